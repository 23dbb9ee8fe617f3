//! Size and nesting limits on what a tenant writes into a template, checked
//! once when a template is compiled (saved, checked in the editor, loaded by
//! the worker), never per record.
//!
//! jaq's lexer, parser and compiler recurse once per level of the program's
//! syntax tree, and a tokio worker thread has a 2 MiB stack: about 800 nested
//! parentheses (fewer in a debug build) overflow it, and an overflow aborts
//! the whole process. So an expression is measured here before jaq sees it,
//! by a scan that keeps its own stack on the heap:
//!
//! - **length**: at most [`MAX_EXPR_BYTES`];
//! - **depth**: at most [`MAX_EXPR_DEPTH`] levels, where every level of the
//!   syntax tree the parser could build counts: each bracket, brace,
//!   parenthesis and string interpolation, each keyword that nests a term
//!   (`if`, `elif`, `try`, `reduce`, `foreach`, `def`, `label`, `and`, `or`)
//!   and each operator (`|`, `,`, `//`, `+`, `-`, `?`, …), because a chain
//!   `1+1+1…` parses into a tree as deep as it is long. Operators in different
//!   entries of one object (`{a: .x + 1, b: .y + 1}`) do not add up, since each
//!   entry is a separate branch.
//!
//! The count over-estimates the real tree depth (it adds every operator of a
//! branch, where the tree may be shallower), never under-estimates it. The
//! tests in this module compile and run the worst shapes at the limit on a
//! 2 MiB thread in a debug build, whose stack frames are several times larger
//! than a release build's; the limit leaves more than twice that headroom.
//!
//! Paths are parsed without recursion, but a target path creates one object
//! level per segment and serde_json drops values recursively, so they are
//! bounded too ([`MAX_PATH_CHARS`], [`MAX_PATH_SEGMENTS`]).

/// Bytes one expression may have; the longest pre-built one has 239.
pub(crate) const MAX_EXPR_BYTES: usize = 4096;
/// Levels of nesting one expression may have (see the module doc).
pub(crate) const MAX_EXPR_DEPTH: usize = 64;
/// Characters one dot path may have.
pub(crate) const MAX_PATH_CHARS: usize = 256;
/// Segments one dot path may have.
pub(crate) const MAX_PATH_SEGMENTS: usize = 32;
/// Levels of `each`/`items` rules inside rules.
pub(crate) const MAX_RULE_NESTING: usize = 8;
/// Rules one template may have, nested ones included.
pub(crate) const MAX_RULES: usize = 2_000;
/// Entries one lookup table may have (the lookup API's own limit).
pub(crate) const MAX_LOOKUP_ENTRIES: usize = 20_000;
/// Levels of nesting a value made by an expression may have, as many as
/// serde_json reads from JSON text.
pub(crate) const MAX_VALUE_DEPTH: usize = 128;

/// Refuse an expression that is too long or nests too deeply, with a
/// sentence naming the limit.
pub(crate) fn check_expression(code: &str) -> Result<(), String> {
    if code.len() > MAX_EXPR_BYTES {
        return Err(format!(
            "expression is {} bytes long; at most {MAX_EXPR_BYTES} are allowed",
            code.len()
        ));
    }
    let depth = expression_depth(code);
    if depth > MAX_EXPR_DEPTH {
        return Err(format!(
            "expression nests {depth} levels deep; at most {MAX_EXPR_DEPTH} are allowed (each bracket, string interpolation, keyword such as `if` or `reduce`, and operator in a chain counts as a level)"
        ));
    }
    Ok(())
}

/// Refuse a dot path that is too long or has too many segments; `what` is
/// `path` or `target`, for the message.
pub(crate) fn check_path(what: &str, text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > MAX_PATH_CHARS {
        return Err(format!(
            "{what} is {chars} characters long; at most {MAX_PATH_CHARS} are allowed"
        ));
    }
    let segments = text.split('.').count();
    if segments > MAX_PATH_SEGMENTS {
        return Err(format!(
            "{what} has {segments} segments; at most {MAX_PATH_SEGMENTS} are allowed"
        ));
    }
    Ok(())
}

/// One open bracket (or string) while scanning.
struct Open {
    /// `)`, `]`, `}`, or `"` for a string.
    close: u8,
    /// Operators and nesting keywords in the current branch.
    ops: usize,
    /// The most operators in a finished branch (object entries).
    branch_max: usize,
    /// The deepest block inside this one.
    child: usize,
    /// Inside `{…}`: a comma separates entries, not terms.
    object: bool,
    /// An `if`, `def` or `label` was seen: its term may contain commas,
    /// so from there on commas count even inside an object.
    swallows_commas: bool,
}

impl Open {
    fn new(close: u8) -> Self {
        Self {
            close,
            ops: 0,
            branch_max: 0,
            child: 0,
            object: close == b'}',
            swallows_commas: false,
        }
    }

    /// The depth this block adds to the one it is in.
    fn depth(&self) -> usize {
        if self.close == b'"' {
            self.child
        } else {
            1 + self.ops.max(self.branch_max) + self.child
        }
    }
}

/// The nesting of a jq program as [`check_expression`] counts it. Tolerates
/// any text: what is not valid jq is left for jaq to report.
pub(crate) fn expression_depth(code: &str) -> usize {
    let bytes = code.as_bytes();
    let mut stack = vec![Open::new(0)];
    let mut i = 0;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let skip_ident = |mut i: usize| {
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        i
    };
    while i < bytes.len() {
        let b = bytes[i];
        let top = stack.len() - 1;
        if stack[top].close == b'"' {
            match b {
                b'"' => {
                    let s = stack.pop().map_or(0, |s| s.depth());
                    let parent = &mut stack[top - 1];
                    parent.child = parent.child.max(s);
                    i += 1;
                }
                b'\\' if bytes.get(i + 1) == Some(&b'(') => {
                    stack.push(Open::new(b')'));
                    i += 2;
                }
                // Any other escape: skip the escaped character.
                b'\\' => i += 2,
                _ => i += 1,
            }
            continue;
        }
        match b {
            b'#' => {
                // A comment runs to the end of the line, and on past lines
                // that end in an odd number of backslashes (as jaq lexes it).
                loop {
                    let end = bytes[i..]
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(bytes.len(), |p| i + p);
                    let line = &bytes[i..end];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let slashes = line.iter().rev().take_while(|&&c| c == b'\\').count();
                    i = (end + 1).min(bytes.len());
                    if slashes % 2 == 0 || i >= bytes.len() {
                        break;
                    }
                }
            }
            b'"' => {
                stack.push(Open::new(b'"'));
                i += 1;
            }
            b'(' => {
                stack.push(Open::new(b')'));
                i += 1;
            }
            b'[' => {
                stack.push(Open::new(b']'));
                i += 1;
            }
            b'{' => {
                stack.push(Open::new(b'}'));
                i += 1;
            }
            b')' | b']' | b'}' => {
                // A closing bracket that matches nothing is a syntax error
                // jaq reports; a mismatched one still ends the block, which
                // is where jaq's lexer stops too.
                if top > 0 {
                    let d = stack.pop().map_or(0, |s| s.depth());
                    let parent = &mut stack[top - 1];
                    parent.child = parent.child.max(d);
                }
                i += 1;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                i = skip_ident(i);
                let word = &code[start..i];
                if let Some(rest) = code[i..].strip_prefix("::") {
                    i = skip_ident(code.len() - rest.len());
                }
                let open = &mut stack[top];
                match word {
                    "if" | "def" | "label" => {
                        open.ops += 1;
                        open.swallows_commas = true;
                    }
                    "elif" | "try" | "reduce" | "foreach" | "and" | "or" => open.ops += 1,
                    _ => {}
                }
            }
            b'$' | b'@' => i = skip_ident(i + 1),
            b'0'..=b'9' => {
                i = skip_ident(i);
                // A fraction, or an exponent with a sign (`1e-5`).
                if bytes.get(i) == Some(&b'.') {
                    i = skip_ident(i + 1);
                }
                if matches!(bytes.get(i - 1), Some(b'e' | b'E'))
                    && matches!(bytes.get(i), Some(b'+' | b'-'))
                {
                    i = skip_ident(i + 1);
                }
            }
            b'.' => {
                i += 1;
                if bytes.get(i) == Some(&b'.') {
                    i += 1;
                } else if bytes
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
                {
                    i = skip_ident(i);
                }
            }
            b'|' | b'=' | b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' => {
                // One operator token, as jaq lexes it: a `-` always starts a
                // new one (`1--1` is `1 - -1`).
                i += 1;
                while i < bytes.len() && b"|=!<>+*/%".contains(&bytes[i]) {
                    i += 1;
                }
                stack[top].ops += 1;
            }
            b',' => {
                let open = &mut stack[top];
                if open.object && !open.swallows_commas {
                    open.branch_max = open.branch_max.max(open.ops);
                    open.ops = 0;
                } else {
                    open.ops += 1;
                }
                i += 1;
            }
            b'?' => {
                stack[top].ops += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    // Close what is left open (jaq reports the syntax error).
    while stack.len() > 1 {
        let d = stack.pop().map_or(0, |s| s.depth());
        let last = stack.len() - 1;
        stack[last].child = stack[last].child.max(d);
    }
    stack.pop().map_or(0, |s| s.depth())
}

/// How deeply JSON text nests (brackets and braces outside strings); text
/// that is not JSON gives some number, and the reader reports the error.
pub(crate) fn json_depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::engine::{Expr, to_val};
    use jaq_json::Val;
    use proptest::prelude::*;
    use serde_json::json;

    /// A tokio worker thread's stack.
    const WORKER_STACK: usize = 2 * 1024 * 1024;

    /// Compile `code` and, when it compiles, run it, on a thread with a
    /// worker's stack; an overflow aborts the test binary, so getting here
    /// at all is the assertion. Gives whether it compiled.
    fn compile_and_run_on_worker_stack(code: String) -> Result<(), String> {
        std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn(move || {
                let expr = Expr::compile(&code)?;
                let _ = expr.eval_on_this_stack(
                    to_val(&json!({"a": [1, 2]})),
                    [Val::Null, Val::Null, Val::Null],
                );
                Ok(())
            })
            .expect("spawn a thread")
            .join()
            .expect("the thread did not panic")
    }

    /// Ways to nest a program one level deeper, each of a kind jaq's parser,
    /// compiler or evaluator recurses on.
    /// A kind of nesting: its name, and how it wraps a program.
    type Wrapper = (&'static str, fn(&str) -> String);

    const WRAPPERS: &[Wrapper] = &[
        ("parenthesis", |x| format!("({x})")),
        ("array", |x| format!("[{x}]")),
        ("object", |x| format!("{{a: {x}}}")),
        ("object key", |x| format!("{{({x}): 1}}")),
        ("interpolation", |x| format!("\"\\({x})\"")),
        ("index", |x| format!(".[{x}]")),
        ("call", |x| format!("first({x})")),
        ("negation", |x| format!("-{x}")),
        ("try", |x| format!("try {x}")),
        ("optional", |x| format!("{x}?")),
        ("if", |x| format!("if . then {x} else 1 end")),
        ("elif", |x| {
            format!("if false then 0 elif {x} then 1 else 2 end")
        }),
        ("reduce", |x| format!("reduce ({x}) as $i (0; . + 1)")),
        ("foreach", |x| format!("foreach ({x}) as $i (0; . + 1)")),
        ("def", |x| format!("def f: {x}; f")),
        ("label", |x| format!("label $out | {x}")),
        ("pipe", |x| format!(". | {x}")),
        ("binding", |x| format!(". as $x | {x}")),
        ("sum", |x| format!("{x} + 1")),
        ("difference", |x| format!("1 - {x}")),
        ("alternative", |x| format!("{x} // 1")),
        ("comma", |x| format!("{x}, 1")),
        ("and", |x| format!("{x} and true")),
        ("comparison", |x| format!("{x} == 1")),
        ("update", |x| format!(".a |= {x}")),
    ];

    /// `wrap` applied as often as the depth limit allows.
    fn deepest_allowed(wrap: fn(&str) -> String) -> String {
        let mut code = "1".to_string();
        loop {
            let next = wrap(&code);
            if expression_depth(&next) > MAX_EXPR_DEPTH {
                return code;
            }
            code = next;
        }
    }

    #[test]
    fn every_kind_of_nesting_at_the_limit_compiles_and_runs_on_a_worker_stack() {
        for (name, wrap) in WRAPPERS {
            let code = deepest_allowed(*wrap);
            // Close to the limit, so the test shows the limit is safe.
            assert!(
                expression_depth(&code) + 4 > MAX_EXPR_DEPTH,
                "{name}: {}",
                expression_depth(&code)
            );
            compile_and_run_on_worker_stack(code.clone())
                .unwrap_or_else(|e| panic!("{name} at the limit: {e}\n{code}"));
            // One more level is refused, naming the limit.
            let over = wrap(&code);
            let err = Expr::compile(&over).err().unwrap_or_default();
            assert!(
                err.contains("levels deep; at most 64 are allowed"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn the_issue_s_800_parentheses_are_refused_before_jaq_sees_them() {
        let code = format!("{}1{}", "(".repeat(800), ")".repeat(800));
        let err = compile_and_run_on_worker_stack(code).unwrap_err();
        assert!(
            err.starts_with("expression nests 801 levels deep; at most 64 are allowed"),
            "{err}"
        );
        // Far past the limit, within the length limit and beyond it.
        for code in [
            "[".repeat(MAX_EXPR_BYTES),
            "1+".repeat(MAX_EXPR_BYTES / 2 - 1) + "1",
            "- ".repeat(MAX_EXPR_BYTES / 2),
            "\"\\(".repeat(1000),
        ] {
            let err = compile_and_run_on_worker_stack(code).unwrap_err();
            assert!(err.contains("levels deep"), "{err}");
        }
        let err = compile_and_run_on_worker_stack("(".repeat(1_000_000)).unwrap_err();
        assert_eq!(
            err,
            "expression is 1000000 bytes long; at most 4096 are allowed"
        );
    }

    #[test]
    fn the_count_ignores_strings_comments_and_separate_object_entries() {
        assert_eq!(expression_depth("1"), 1);
        assert_eq!(expression_depth("(1)"), 2);
        assert_eq!(expression_depth("\"((((((\" # (((((("), 1);
        assert_eq!(expression_depth(".a.b.c[0].d"), 2);
        assert_eq!(expression_depth("1 + 2 * 3"), 3);
        // Entries of an object are branches: the deepest counts, not the sum.
        assert_eq!(expression_depth("{a: .x + 1, b: .y + 1, c: .z + 1}"), 3);
        // An `if` inside an object swallows commas, so they count again.
        assert_eq!(expression_depth("{a: if . then 1, 1 else 2 end}"), 4);
        // A comment continued by a backslash hides the next line too.
        assert_eq!(expression_depth("1 # \\\n ((((\n"), 1);
        // Every pre-built template's longest expression is far from it.
        let longest = "\"Refund \\(.returnId) for order \\(.orderId)\" + (if .reason then \": \\(.reason)\" else \"\" end) + (if .exchange and .exchange.from != .exchange.to then \" (\\(.exchange.from) converted at \\(.exchange.rate) on \\(.exchange.rate_date))\" else \"\" end)";
        assert!(
            expression_depth(longest) < 16,
            "{}",
            expression_depth(longest)
        );
    }

    #[test]
    fn paths_are_bounded_in_length_and_segments() {
        assert!(check_path("path", &vec!["a"; 32].join(".")).is_ok());
        let err = check_path("target", &vec!["a"; 33].join(".")).unwrap_err();
        assert_eq!(err, "target has 33 segments; at most 32 are allowed");
        let err = check_path("path", &"a".repeat(257)).unwrap_err();
        assert_eq!(err, "path is 257 characters long; at most 256 are allowed");
    }

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        assert_eq!(json_depth(br#"{"a": [1, {"b": "[[[\"]]"}]}"#), 3);
        assert_eq!(json_depth(&b"[".repeat(1000)), 1000);
        assert_eq!(json_depth(b"1"), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any mix of nestings: accepted ones compile and run on a worker
        /// stack, the rest are refused with the limit named.
        #[test]
        fn mixed_nestings_are_either_safe_or_refused(kinds in prop::collection::vec(0..WRAPPERS.len(), 1..120)) {
            let mut code = ".".to_string();
            for k in &kinds {
                code = (WRAPPERS[*k].1)(&code);
            }
            let depth = expression_depth(&code);
            match compile_and_run_on_worker_stack(code.clone()) {
                Ok(()) => prop_assert!(depth <= MAX_EXPR_DEPTH && code.len() <= MAX_EXPR_BYTES),
                Err(e) if depth > MAX_EXPR_DEPTH => prop_assert!(e.contains("levels deep"), "{}", e),
                Err(e) if code.len() > MAX_EXPR_BYTES => prop_assert!(e.contains("bytes long"), "{}", e),
                // A mix can be bad jq (`{a: 1, 2}`); refused, not crashed.
                Err(e) => prop_assert!(e.contains("syntax error"), "{} did not compile: {}", code, e),
            }
        }

        /// Text made of jq's nesting characters and operators in any order:
        /// what the scan lets through never overflows jaq, however badly
        /// formed (this keeps the scan's reading of jq honest).
        #[test]
        fn any_token_soup_is_refused_or_survives(code in r#"([()\[\]{}"\\|,+\-?.:;#$ \n]|if |then |else |end |try |def f: |reduce |as |\$x |1 |a ){0,300}"#) {
            let _ = compile_and_run_on_worker_stack(code);
        }
    }
}
