//! What the conversion tests (here and in the pipeline's) share: a template
//! with the usual settings and lookup tables, a small rate table and ERP
//! catalog, and a run of the whole pipeline over one record.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::mapping::currency::{CurrencyCode, RateRow, RateTable};
use crate::mapping::pipeline::{Mapped, MappingInputs, catalog_resolver, map_record};
use crate::mapping::sku::{CatalogItem, SkuResolver};
use crate::mapping::validate::InMemoryReferences;
use crate::mapping::{CompiledTemplate, TemplateError};

pub(crate) fn compile(doc: Value) -> Result<CompiledTemplate, TemplateError> {
    CompiledTemplate::compile(&doc)
}

pub(crate) fn with_conversions(conversions: Value) -> CompiledTemplate {
    compile(json!({
        "settings": {"base_currency": "USD", "tax_prices": "inclusive"},
        "lookups": {"skus": {"CL-77": "GADGET-100"}, "tax_details": {"VAT20": "UK-STD", "7.25%": "CA-STATE"}},
        "conversions": conversions,
        "rules": [{"target": "copy", "source": "."}]
    }))
    .expect("compiles")
}

pub(crate) fn rates() -> RateTable {
    let c = |s| CurrencyCode::parse(s).unwrap();
    RateTable::from_rows([
        RateRow {
            from: c("EUR"),
            to: c("USD"),
            date: time::macros::date!(2024 - 01 - 01),
            rate: Decimal::from_str("1.10").unwrap(),
        },
        RateRow {
            from: c("JPY"),
            to: c("USD"),
            date: time::macros::date!(2024 - 01 - 01),
            rate: Decimal::from_str("0.0067").unwrap(),
        },
    ])
    .unwrap()
}

pub(crate) fn catalog() -> SkuResolver {
    catalog_resolver(
        [
            ("WIDGET-BLUE-L", "Widget, blue, large"),
            ("WIDGET-BLUE-M", "Widget, blue, medium"),
            ("WIDGET-RED-L", "Widget, red, large"),
            ("GADGET-100", "Gadget 100"),
        ]
        .into_iter()
        .map(|(s, n)| CatalogItem {
            sku: s.into(),
            name: n.into(),
        })
        .collect(),
    )
}

pub(crate) fn run(t: &CompiledTemplate, source: &Value, catalog: Option<&SkuResolver>) -> Mapped {
    let refs = InMemoryReferences::new();
    let rates = rates();
    map_record(
        t,
        None,
        "CO-1",
        source,
        &MappingInputs {
            rates: &rates,
            catalog,
            references: &refs,
            history: None,
        },
    )
}
