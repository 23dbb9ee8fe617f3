//! The rule language as a specification: what each kind of rule produces,
//! what `when`, `default`, `optional`, `fallback` and `transform` change, how
//! a record that cannot be mapped is reported (naming the rule's target, and
//! the line for a rule inside `each`), and what compiling refuses. The
//! pipeline's tests run templates with conversions; these run the rules alone.

use super::*;
use serde_json::json;

#[test]
fn casing_handles_ascii_in_place_and_other_text_by_unicode_rules() {
    let case = |t, s: &str| apply_transform(t, json!(s)).unwrap();
    assert_eq!(case(Transform::Upper, "sku-3003"), json!("SKU-3003"));
    assert_eq!(case(Transform::Lower, "CUS-5002"), json!("cus-5002"));
    assert_eq!(case(Transform::Upper, "straße"), json!("STRASSE"));
    assert_eq!(case(Transform::Lower, "ÉTÉ"), json!("été"));
    assert!(apply_transform(Transform::Upper, json!(3)).is_err());
}

fn compile_err(doc: Value) -> TemplateError {
    CompiledTemplate::compile(&doc).expect_err("refused")
}

#[test]
fn an_expression_too_deep_is_refused_naming_the_rule_and_its_expr() {
    let deep = format!("{}1{}", "(".repeat(800), ")".repeat(800));
    let e = compile_err(serde_json::json!({"rules": [
        {"target": "a", "value": 1},
        {"target": "b", "expr": deep},
    ]}));
    assert_eq!((e.rule, e.target.as_str(), e.key), (1, "b", Some("expr")));
    assert!(
        e.message.starts_with(
            "expression does not compile: expression nests 801 levels deep; at most 64 are allowed"
        ),
        "{}",
        e.message
    );
}

#[test]
fn each_nesting_rule_count_lookup_size_and_paths_are_bounded() {
    // `each` inside `each`, nine levels.
    let mut rule = serde_json::json!({"target": "x", "value": 1});
    for _ in 0..9 {
        rule = serde_json::json!({"target": "l", "each": {"source": "lines", "rules": [rule]}});
    }
    let e = compile_err(serde_json::json!({"rules": [rule]}));
    assert_eq!(e.message, "`each` and `items` nest more than 8 levels deep");
    // Eight levels are fine.
    let mut rule = serde_json::json!({"target": "x", "value": 1});
    for _ in 0..8 {
        rule = serde_json::json!({"target": "l", "each": {"source": "lines", "rules": [rule]}});
    }
    assert!(CompiledTemplate::compile(&serde_json::json!({"rules": [rule]})).is_ok());

    let rules: Vec<Value> = (0..=MAX_RULES)
        .map(|i| serde_json::json!({"target": format!("t{i}"), "value": 1}))
        .collect();
    let e = compile_err(serde_json::json!({"rules": rules}));
    assert_eq!(e.rule, MAX_RULES);
    assert_eq!(
        e.message,
        "template has more than 2000 rules (nested ones included)"
    );

    let table: Map<String, Value> = (0..=MAX_LOOKUP_ENTRIES)
        .map(|i| (i.to_string(), Value::from(i)))
        .collect();
    let e = compile_err(serde_json::json!({"lookups": {"big": table}, "rules": []}));
    assert_eq!(
        e.message,
        "lookup table `big` holds 20001 entries; a table holds at most 20000"
    );

    let e = compile_err(serde_json::json!({"rules": [
        {"target": vec!["a"; 40].join("."), "value": 1},
    ]}));
    assert_eq!(e.message, "target has 40 segments; at most 32 are allowed");
    let e = compile_err(serde_json::json!({"rules": [
        {"target": "a", "source": "b".repeat(300)},
    ]}));
    assert_eq!(
        e.message,
        "path is 300 characters long; at most 256 are allowed"
    );
}

fn template(doc: Value) -> CompiledTemplate {
    CompiledTemplate::compile(&doc).expect("the template compiles")
}

/// A template of `rules` alone, applied to `source`.
fn map(rules: Value, source: Value) -> Result<Value, MappingError> {
    template(json!({ "rules": rules })).apply(&source)
}

/// The error mapping `source` with `rules` gives.
fn map_err(rules: Value, source: Value) -> MappingError {
    map(rules, source).expect_err("the record is refused")
}

#[test]
fn source_copies_the_value_at_a_dot_path_whatever_its_type() {
    let source = json!({
        "order": {"id": 7},
        "lines": [{"sku": "A"}, {"sku": "B"}],
        "ship": {"city": "Denver"}
    });
    let out = map(
        json!([
            {"target": "id", "source": "order.id"},
            {"target": "second", "source": "lines.1.sku"},
            {"target": "address", "source": "ship"},
            {"target": "whole", "source": "."}
        ]),
        source.clone(),
    )
    .unwrap();
    assert_eq!(out["id"], json!(7), "numbers stay numbers");
    assert_eq!(
        out["second"],
        json!("B"),
        "a digit segment indexes an array"
    );
    assert_eq!(out["address"], json!({"city": "Denver"}));
    assert_eq!(out["whole"], source, "`.` is the record itself");
}

#[test]
fn value_and_setting_give_constants_and_a_null_constant_is_nothing() {
    let t = template(json!({
        "settings": {"entity": "US-01"},
        "rules": [
            {"target": "kind", "value": "SO"},
            {"target": "nested", "value": {"a": [1, 2]}},
            {"target": "entity", "setting": "entity"},
            {"target": "gone", "value": null, "optional": true}
        ]
    }));
    assert_eq!(
        t.apply(&json!({})).unwrap(),
        json!({"kind": "SO", "nested": {"a": [1, 2]}, "entity": "US-01"})
    );
    let e = map_err(json!([{"target": "x", "value": null}]), json!({}));
    assert_eq!(e.target, "x");
    assert_eq!(e.message, "required value is missing: the constant is null");
}

#[test]
fn a_value_not_found_is_an_error_naming_the_target_unless_there_is_a_default_or_optional() {
    let rule = |extra: Value| {
        let mut r = json!({"target": "customer.id", "source": "customerId"});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([r, {"target": "n", "value": 1}])
    };
    // Null counts as absent.
    let e = map_err(rule(json!({})), json!({"customerId": null}));
    assert_eq!(e.target, "customer.id");
    assert_eq!(
        e.message,
        "required value is missing: `customerId` is absent"
    );
    assert_eq!(e.value, None);
    // A null default is no default.
    let e = map_err(rule(json!({"default": null})), json!({}));
    assert_eq!(e.target, "customer.id");

    let out = map(rule(json!({"default": "WALK-IN"})), json!({})).unwrap();
    assert_eq!(out, json!({"customer": {"id": "WALK-IN"}, "n": 1}));
    let out = map(
        rule(json!({"default": "WALK-IN"})),
        json!({"customerId": "C7"}),
    )
    .unwrap();
    assert_eq!(
        out["customer"]["id"],
        json!("C7"),
        "a default only fills a gap"
    );
    // Optional leaves the target out, and a parent nothing else writes.
    let out = map(rule(json!({"optional": true})), json!({})).unwrap();
    assert_eq!(out, json!({"n": 1}));
}

#[test]
fn a_fallback_is_tried_when_the_source_finds_nothing_and_both_reasons_are_reported() {
    let rules = json!([{"target": "email", "source": "billing.email",
        "fallback": {"source": "customer.email", "transform": "lower"}}]);
    let both = json!({"billing": {"email": "A@x.com"}, "customer": {"email": "B@X.COM"}});
    assert_eq!(map(rules.clone(), both).unwrap()["email"], json!("A@x.com"));
    let only_customer = json!({"customer": {"email": "B@X.COM"}});
    assert_eq!(
        map(rules.clone(), only_customer).unwrap()["email"],
        json!("b@x.com"),
        "the fallback's own transform applies"
    );
    let e = map_err(rules, json!({}));
    assert_eq!(
        e.message,
        "required value is missing: `billing.email` is absent; `customer.email` is absent"
    );

    let e = compile_err(json!({"rules": [{"target": "a", "source": "x",
        "fallback": {"source": "y", "default": 1}}]}));
    assert!(
        e.message.starts_with("a `fallback` is only a source"),
        "{}",
        e.message
    );
}

#[test]
fn a_lookup_maps_a_key_through_a_table_and_says_why_when_it_cannot() {
    let doc = |default: Value| {
        json!({
            "lookups": {"terms": {"NET30": "30D", "1": "ONE", "true": "YES", "VOID": null}},
            "rules": [{"target": "t", "lookup": {"table": "terms", "source": "k", "default": default}}]
        })
    };
    let t = template(doc(Value::Null));
    let get = |k: Value| t.apply(&json!({ "k": k }));
    assert_eq!(get(json!("NET30")).unwrap()["t"], json!("30D"));
    assert_eq!(get(json!(1)).unwrap()["t"], json!("ONE"), "numbers as text");
    assert_eq!(get(json!(true)).unwrap()["t"], json!("YES"));
    let why = |k: Value| get(k).unwrap_err().message;
    assert_eq!(
        why(json!("COD")),
        "required value is missing: `COD` is not in lookup table `terms`"
    );
    assert_eq!(
        why(json!("VOID")),
        "required value is missing: lookup table `terms` maps it to null"
    );
    assert_eq!(
        t.apply(&json!({})).unwrap_err().message,
        "required value is missing: `k` is absent"
    );
    let e = get(json!({"a": 1})).unwrap_err();
    assert_eq!(
        (e.target.as_str(), e.message.as_str()),
        ("t", "lookup key `k` must be text or a number")
    );
    assert_eq!(e.value, Some(json!({"a": 1})));

    let t = template(doc(json!("DEFAULT")));
    for source in [json!({"k": "COD"}), json!({"k": "VOID"}), json!({})] {
        assert_eq!(t.apply(&source).unwrap()["t"], json!("DEFAULT"), "{source}");
    }

    let e = compile_err(json!({"rules": [
        {"target": "a", "value": 1},
        {"target": "t", "lookup": {"table": "nope", "source": "k"}}
    ]}));
    assert_eq!((e.rule, e.target.as_str()), (1, "t"));
    assert_eq!(
        e.message,
        "lookup table `nope` is not defined in the template's `lookups`"
    );
}

#[test]
fn format_fills_paths_into_text_and_optional_ones_may_be_absent() {
    let rules = json!([
        {"target": "ref", "format": "clarity:{orderId}{-suffix?}"},
        {"target": "braces", "format": "{{{n}}}"},
        {"target": "blank", "format": " {name?} ", "optional": true}
    ]);
    let out = map(rules.clone(), json!({"orderId": "CO-1", "n": 5})).unwrap();
    assert_eq!(out, json!({"ref": "clarity:CO-1", "braces": "{5}"}));
    let out = map(rules, json!({"orderId": 42, "-suffix": "B", "n": 5})).unwrap();
    assert_eq!(out["ref"], json!("clarity:42B"));

    let one = json!([{"target": "ref", "format": "clarity:{orderId}"}]);
    assert_eq!(
        map_err(one.clone(), json!({})).message,
        "required value is missing: `orderId` is absent"
    );
    let e = map_err(one, json!({"orderId": {"x": 1}}));
    assert_eq!(
        e.message,
        "`orderId` must be text or a number to be formatted"
    );

    for (format, why) in [("{open", "an unclosed `{`"), ("a}b", "a lone `}`")] {
        let e = compile_err(json!({"rules": [{"target": "f", "format": format}]}));
        assert!(e.message.contains(why), "{format}: {}", e.message);
        assert_eq!(e.target, "f");
    }
}

#[test]
fn expr_runs_a_jq_program_with_settings_lookups_and_the_record_bound() {
    let t = template(json!({
        "settings": {"prefix": "SO-"},
        "lookups": {"wh": {"east": "W1"}},
        "rules": [
            {"target": "id", "expr": "$settings.prefix + .orderId"},
            {"target": "wh", "expr": "$lookups.wh[.region]"},
            {"target": "qty", "expr": "[.lines[].qty] | add"},
            {"target": "lines", "each": {"source": "lines", "rules": [
                {"target": "q2", "expr": ".qty * 2"},
                {"target": "order", "expr": "$record.orderId"}
            ]}},
            {"target": "none", "expr": "empty", "optional": true}
        ]
    }));
    let out = t
        .apply(&json!({"orderId": "7", "region": "east", "lines": [{"qty": 1}, {"qty": 2}]}))
        .unwrap();
    assert_eq!(
        out,
        json!({
            "id": "SO-7", "wh": "W1", "qty": 3,
            "lines": [{"q2": 2, "order": "7"}, {"q2": 4, "order": "7"}]
        })
    );

    let e = map_err(
        json!([{"target": "x", "expr": "error(\"boom\")"}]),
        json!({}),
    );
    assert_eq!(e.target, "x");
    assert!(
        e.message.starts_with("expression failed:") && e.message.contains("boom"),
        "{}",
        e.message
    );
    assert_eq!(
        map_err(json!([{"target": "x", "expr": "empty"}]), json!({})).message,
        "required value is missing: the expression produced no value"
    );

    let e = compile_err(json!({"rules": [{"target": "x", "expr": "1 +"}]}));
    assert_eq!((e.rule, e.target.as_str(), e.key), (0, "x", Some("expr")));
    assert!(
        e.message.starts_with("expression does not compile:"),
        "{}",
        e.message
    );
}

#[test]
fn each_applies_its_rules_to_every_element_and_an_error_names_the_line() {
    let rules = json!([{"target": "order.lines", "each": {"source": "lineItems", "rules": [
        {"target": "item", "source": "sku", "transform": "upper"},
        {"target": "qty", "source": "quantity"}
    ]}}]);
    let out = map(
        rules.clone(),
        json!({"lineItems": [{"sku": "a", "quantity": 2}, {"sku": "b", "quantity": 1}]}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"order": {"lines": [{"item": "A", "qty": 2}, {"item": "B", "qty": 1}]}})
    );
    assert_eq!(
        map(rules.clone(), json!({"lineItems": []})).unwrap(),
        json!({"order": {"lines": []}})
    );

    let e = map_err(
        rules.clone(),
        json!({"lineItems": [{"sku": "a", "quantity": 2}, {"sku": "b"}]}),
    );
    assert_eq!(e.target, "order.lines[1].qty");
    assert_eq!(e.message, "required value is missing: `quantity` is absent");
    let e = map_err(rules.clone(), json!({"lineItems": "a"}));
    assert_eq!(
        (e.target.as_str(), e.message.as_str()),
        ("order.lines", "`lineItems` must be an array")
    );
    assert_eq!(e.value, Some(json!("a")));
    assert_eq!(
        map_err(rules, json!({})).message,
        "required value is missing: `lineItems` is absent"
    );
}

#[test]
fn items_build_an_array_of_objects_each_kept_when_its_condition_holds() {
    let rules = json!([{"target": "charges", "items": [
        {"when": {"nonzero": "shipping"}, "rules": [
            {"target": "kind", "value": "SHIP"}, {"target": "amount", "source": "shipping"}]},
        {"when": {"present": "giftWrap"}, "rules": [{"target": "kind", "value": "GIFT"}]},
        {"rules": [{"target": "kind", "value": "ALWAYS"}, {"target": "note", "source": "note"}]}
    ]}]);
    let out = map(rules.clone(), json!({"shipping": "0.00", "note": "n"})).unwrap();
    assert_eq!(out["charges"], json!([{"kind": "ALWAYS", "note": "n"}]));
    let out = map(
        rules.clone(),
        json!({"shipping": "5.00", "giftWrap": false, "note": "n"}),
    )
    .unwrap();
    assert_eq!(
        out["charges"],
        json!([
            {"kind": "SHIP", "amount": "5.00"},
            {"kind": "GIFT"},
            {"kind": "ALWAYS", "note": "n"}
        ])
    );
    // An error inside an item names the item by its place in `items`.
    assert_eq!(
        map_err(rules, json!({"shipping": "0.00"})).target,
        "charges[2].note"
    );
}

#[test]
fn when_picks_between_rules_that_write_the_same_target() {
    let rules = json!([
        {"target": "customer", "source": "companyId", "when": {"present": "companyId"}},
        {"target": "customer", "value": "RETAIL", "when": {"not": {"present": "companyId"}}},
        {"target": "channel", "value": "web",
         "when": {"equals": {"source": "origin", "value": "shop"}}},
        {"target": "channel", "value": "other",
         "when": {"not": {"equals": {"source": "origin", "value": "shop"}}}},
        {"target": "discount", "source": "discount", "when": {"nonzero": "discount"}}
    ]);
    assert_eq!(
        map(
            rules.clone(),
            json!({"companyId": "C9", "origin": "shop", "discount": "0"})
        )
        .unwrap(),
        json!({"customer": "C9", "channel": "web"})
    );
    assert_eq!(
        map(rules, json!({"origin": "phone", "discount": "2.50"})).unwrap(),
        json!({"customer": "RETAIL", "channel": "other", "discount": "2.50"})
    );
    // When both alternatives hold, the later rule's value wins, as a later
    // write would; also when one target lies inside the other.
    let rules = json!([
        {"target": "a", "value": {"b": 1}, "when": {"present": "x"}},
        {"target": "a.b", "value": 2, "when": {"present": "x"}}
    ]);
    assert_eq!(map(rules, json!({"x": 1})).unwrap(), json!({"a": {"b": 2}}));
}

#[test]
fn transforms_apply_in_order_and_a_failure_names_the_transform_and_the_value() {
    let out = map(
        json!([
            {"target": "sku", "source": "sku", "transform": ["trim", "upper"]},
            {"target": "neg", "source": "price", "transform": ["decimal", "negate"]},
            {"target": "text", "source": "n", "transform": "string"},
            {"target": "count", "source": "qty", "transform": "number"},
            {"target": "parts", "source": "d", "transform": "date_parts"}
        ]),
        json!({"sku": "  ab-1 ", "price": "12.50", "n": 5, "qty": "3", "d": "2024-02-29"}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "sku": "AB-1", "neg": "-12.50", "text": "5", "count": 3,
            "parts": {"year": "2024", "month": "02", "day": "29"}
        })
    );

    let e = map_err(
        json!([{"target": "price", "source": "price", "transform": "money"}]),
        json!({"price": "1.005"}),
    );
    assert_eq!(e.target, "price");
    assert_eq!(
        e.message,
        "cannot apply `money`: the amount has more than 2 decimal places"
    );
    assert_eq!(e.value, Some(json!("1.005")));
    let e = map_err(
        json!([{"target": "q", "source": "q", "transform": ["trim", "number"]}]),
        json!({"q": " abc "}),
    );
    assert_eq!(
        e.message,
        "cannot apply `number`: the value is not a decimal"
    );
    assert_eq!(
        e.value,
        Some(json!("abc")),
        "the value as the earlier transforms left it"
    );

    let e = compile_err(json!({"rules": [{"target": "s", "source": "s", "transform": "shout"}]}));
    assert_eq!(e.target, "s");
    assert!(
        e.message
            .starts_with("unknown transform `shout` (known: upper, lower,"),
        "{}",
        e.message
    );
}

#[test]
fn targets_nest_into_objects_and_siblings_share_their_parent() {
    let t = template(json!({"rules": [
        {"target": "header.customer.id", "value": "C1"},
        {"target": "lines", "value": []},
        {"target": "header.customer.name", "value": "Acme"},
        {"target": "header.date", "value": "2024-01-01"}
    ]}));
    assert_eq!(
        t.apply(&json!({})).unwrap(),
        json!({
            "header": {"customer": {"id": "C1", "name": "Acme"}, "date": "2024-01-01"},
            "lines": []
        })
    );
    assert_eq!(
        t.targets().collect::<Vec<_>>(),
        [
            "header.customer.id",
            "lines",
            "header.customer.name",
            "header.date"
        ]
    );
}

#[test]
fn distribute_spreads_an_order_amount_over_the_lines_to_the_cent() {
    let rules = |total: &str| {
        json!([{"target": "lines", "each": {"source": "lines",
            "rules": [{"target": "sku", "source": "sku"}],
            "distribute": [{"target": "discount", "total": total, "line": "discount",
                            "weight": ["qty", "price"]}]}}])
    };
    // The lines keep their own 1.00; the other 9.00 goes by qty × price.
    let source = json!({"discount": "10.00", "even": "1.00", "lines": [
        {"sku": "A", "qty": 1, "price": "10", "discount": "1.00"},
        {"sku": "B", "qty": 2, "price": "10"},
        {"sku": "C", "qty": 1, "price": "10"}
    ]});
    let out = map(rules("discount"), source.clone()).unwrap();
    let shares: Vec<&Value> = out["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["discount"])
        .collect();
    assert_eq!(shares, [&json!("3.25"), &json!("4.50"), &json!("2.25")]);
    // 1.00 − the lines' own 1.00 leaves nothing to spread.
    let out = map(rules("even"), source.clone()).unwrap();
    assert_eq!(out["lines"][0]["discount"], json!("1.00"));
    assert_eq!(out["lines"][1]["discount"], json!("0.00"));

    let e = map_err(rules("discount"), json!({"discount": "1.00", "lines": []}));
    assert_eq!(e.target, "lines[].discount");
    assert_eq!(
        e.message,
        "cannot distribute 1.00 of `discount` over no lines"
    );
}

#[test]
fn compile_refuses_targets_that_overwrite_each_other_unless_when_picks_one() {
    let e = compile_err(json!({"rules": [
        {"target": "a", "value": 1},
        {"target": "a.b", "value": 2}
    ]}));
    assert_eq!((e.rule, e.target.as_str()), (1, "a.b"));
    assert_eq!(
        e.message,
        "target `a.b` overlaps target `a` of an earlier rule"
    );
    let e = compile_err(json!({"rules": [
        {"target": "x", "value": 1},
        {"target": "l", "each": {"source": "lines", "rules": [
            {"target": "q", "value": 1}, {"target": "q", "source": "q"}]}}
    ]}));
    assert_eq!((e.rule, e.target.as_str()), (1, "l[].q"));
    let e = compile_err(json!({"rules": [{"target": "l", "each": {"source": "lines",
        "rules": [{"target": "d", "value": 1}],
        "distribute": [{"target": "d", "total": "t"}]}}]}));
    assert_eq!(
        e.message,
        "`distribute` writes a target that a nested rule also writes"
    );
    assert!(
        CompiledTemplate::compile(&json!({"rules": [
            {"target": "a.b", "value": 1},
            {"target": "a.c", "value": 2},
            {"target": "ab", "value": 3}
        ]}))
        .is_ok()
    );
}

#[test]
fn compile_refuses_unknown_keys_and_a_rule_without_exactly_one_source_naming_the_rule() {
    let refused = |rule: Value| compile_err(json!({"rules": [{"target": "ok", "value": 1}, rule]}));
    let e = refused(json!({"target": "a", "sorce": "x"}));
    assert_eq!((e.rule, e.target.as_str()), (1, "a"));
    assert!(
        e.message.starts_with("unknown field `sorce`"),
        "{}",
        e.message
    );
    let e = refused(json!({"target": "a"}));
    assert!(
        e.message
            .starts_with("rule has no source: give exactly one of `source`")
    );
    let e = refused(json!({"target": "a", "source": "x", "value": 1}));
    assert_eq!(
        e.message,
        "rule has 2 sources (`source`, `value`): give exactly one"
    );
    assert_eq!(
        refused(json!({"source": "x"})).message,
        "rule has no `target`"
    );
    assert_eq!(
        refused(json!({"target": "a", "setting": "nope"})).message,
        "setting `nope` is not defined in the template's `settings`"
    );
    let e = refused(json!({"target": "a", "source": "a b"}));
    assert!(
        e.message.contains("is not a plain dot path"),
        "{}",
        e.message
    );
    let e = refused(json!({"target": "a", "value": 1, "when": {"sometimes": "x"}}));
    assert!(e.message.contains("sometimes"), "{}", e.message);
    // A nested rule is named by its path inside the rule it belongs to.
    let e = refused(json!({"target": "l", "each": {"source": "x", "rules": [
        {"target": "q", "sorce": "y"}]}}));
    assert_eq!((e.rule, e.target.as_str()), (1, "l[].q"));
    let e = refused(json!({"target": "l", "each": {"source": "x", "rules": [], "extra": 1}}));
    assert!(e.message.contains("unknown field `extra`"), "{}", e.message);
}
