//! The expression engine: jq programs compiled once by jaq, run many times.
//!
//! A tenant writes the program, so evaluation is bounded:
//! - **no environment, input or I/O**: `env`, `$ENV`, `input(s)`, `now`,
//!   local time zones, `debug`/`stderr` logging and `halt` are not available
//!   (`debug`/`stderr` are accepted and do nothing, `halt` is an error);
//!   modules cannot be imported;
//! - **steps**: every term the interpreter evaluates spends one unit of fuel
//!   (counted in [`HasLut::lut`], which jaq calls for every term), `range` spends
//!   one per value, and a wall-clock deadline is checked every 1024 steps;
//! - **depth**: evaluation is stopped when it has grown the stack past
//!   [`MAX_STACK_BYTES`] (deep recursion would otherwise abort the process);
//! - **outputs**: only the first output is taken, and it must be at most
//!   [`MAX_OUTPUT_NODES`] JSON values.
//!
//! A limit stops jaq by unwinding with a private payload (the same technique
//! salsa uses for cancellation: `resume_unwind` does not run the panic hook),
//! caught at [`Expr::eval`] and turned into an ordinary error.
//!
//! Before any of this, [`super::bounds`] refuses programs too long or too
//! deeply nested for jaq's recursive parser; `fromjson` refuses text nested
//! deeper than [`MAX_VALUE_DEPTH`], and an output nested deeper is an error
//! (it is dropped without recursion).
//!
//! Values nested deep inside a program: within the step budget `reduce
//! range(N) as $i (null; [.])` nests about [`MAX_STEPS`] / 3 levels, and
//! jaq formats (`tojson`, `tostring`, `error`), compares (`==`, `sort`),
//! merges (`*`) and drops values recursively, once per level. Programs
//! therefore run on a thread whose stack is sized for that depth
//! ([`on_roomy_stack`], [`EVAL_STACK_BYTES`]): reserved, not committed, so
//! an honest program touches the few pages it always did. The pipeline enters
//! it once per record; [`Expr::eval`] enters it itself when called elsewhere.
//!
//! Not bounded: a single huge allocation inside one step (`"x" * 1e10`, or a
//! string doubled in a short `reduce`). Closing that needs an
//! allocation-aware value type or running tenant programs in a separate
//! process.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use jaq_core::box_iter::box_once;
use jaq_core::data::HasLut;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::native::{Fun, run, v};
use jaq_core::{Compiler, Ctx, DataT, Error, Exn, ValX, Vars};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::bounds::{self, MAX_VALUE_DEPTH};

/// Steps one evaluation may take.
pub(crate) const MAX_STEPS: u32 = 1_000_000;
/// Wall-clock time one evaluation may take.
pub(crate) const MAX_TIME: Duration = Duration::from_millis(250);
/// Stack growth one evaluation may cause.
pub(crate) const MAX_STACK_BYTES: usize = 512 * 1024;
/// JSON values (scalars, arrays, objects) one output may contain.
pub(crate) const MAX_OUTPUT_NODES: usize = 100_000;
/// Characters of an error message a program may raise (`error(.)` of a
/// large value would otherwise be copied into runs and dead letters whole).
const MAX_ERROR_CHARS: usize = 500;

/// Stack of the threads tenant programs run on. At the deepest value the
/// step budget allows (~333,000 levels), formatting it with `tojson` or
/// `error`, comparing, merging and dropping it fit in 1 GiB in both debug
/// and release builds, and overflow 256 MiB (measured by
/// `engine::tests::values_as_deep_as_the_budget_allows_never_overflow`,
/// also with `--release`). Reserved address space, not committed memory:
/// an honest program touches the few pages it always did.
pub const EVAL_STACK_BYTES: usize = 1 << 30;

thread_local! {
    /// Whether this thread was started by [`on_roomy_stack`].
    static ROOMY: Cell<bool> = const { Cell::new(false) };
}

/// Declares that the calling thread was started with [`EVAL_STACK_BYTES`]
/// of stack, so [`on_roomy_stack`] runs on it directly: a runtime built with
/// `thread_stack_size(EVAL_STACK_BYTES)` calls this from `on_thread_start`.
pub fn assume_roomy_stack() {
    ROOMY.set(true);
}

/// Runs `f` where tenant programs may run: on this thread if it is already
/// one with [`EVAL_STACK_BYTES`] of stack, else on a new one, waited for.
/// A panic in `f` continues in the caller.
pub fn on_roomy_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if ROOMY.get() {
        return f();
    }
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("tenant-program".into())
            .stack_size(EVAL_STACK_BYTES)
            .spawn_scoped(scope, || {
                ROOMY.set(true);
                f()
            })
            // Only address space is reserved, and the thread ends with the
            // call: failing here means the process is out of resources, not
            // anything a tenant sent.
            .expect("a thread for tenant programs starts");
        match spawned.join() {
            Ok(r) => r,
            Err(panic) => resume_unwind(panic),
        }
    })
}

/// Names bound in every expression, in this order.
const GLOBALS: [&str; 3] = ["$settings", "$lookups", "$record"];

/// jaq data kind for mapping expressions: values are [`Val`], and the global
/// data carries the evaluation budget next to the program.
pub(crate) enum Mapping {}

impl DataT for Mapping {
    type V<'a> = Val;
    type Data<'a> = Metered<'a>;
}

/// The program plus the budget of the running evaluation.
#[derive(Clone)]
pub(crate) struct Metered<'a> {
    lut: &'a jaq_core::Lut<Mapping>,
    budget: &'a Budget,
}

impl<'a> HasLut<'a, Mapping> for Metered<'a> {
    fn lut(&self) -> &'a jaq_core::Lut<Mapping> {
        self.budget.tick();
        self.lut
    }
}

/// Why an evaluation was stopped.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Steps,
    Time,
    Depth,
}

/// What one evaluation may spend.
#[derive(Debug, Clone, Copy)]
struct Limits {
    steps: u32,
    time: Duration,
}

impl Limits {
    const DEFAULT: Self = Self {
        steps: MAX_STEPS,
        time: MAX_TIME,
    };
}

/// Where the deadline reads the time. Tests use a clock they control: on a
/// loaded machine the wall clock would decide which limit stops a program, or
/// stop an honest one.
enum Clock {
    Wall(Instant),
    /// Time advances by a fixed amount at each reading, as if every 1024
    /// steps took that long.
    #[cfg(test)]
    Stepping {
        per_reading: Duration,
        readings: Cell<u32>,
    },
}

impl Clock {
    fn elapsed(&self) -> Duration {
        match self {
            Clock::Wall(start) => start.elapsed(),
            #[cfg(test)]
            Clock::Stepping {
                per_reading,
                readings,
            } => {
                readings.set(readings.get() + 1);
                *per_reading * readings.get()
            }
        }
    }
}

pub(crate) struct Budget {
    limits: Limits,
    steps: Cell<u32>,
    clock: Clock,
    stack_base: usize,
}

impl Budget {
    fn new() -> Self {
        Self::with(Limits::DEFAULT, Clock::Wall(Instant::now()))
    }

    fn with(limits: Limits, clock: Clock) -> Self {
        Self {
            limits,
            steps: Cell::new(limits.steps),
            clock,
            stack_base: stack_position(),
        }
    }

    fn tick(&self) {
        let left = self.steps.get();
        if left == 0 {
            resume_unwind(Box::new(Limit::Steps));
        }
        self.steps.set(left - 1);
        if left.is_multiple_of(1024) && self.clock.elapsed() > self.limits.time {
            resume_unwind(Box::new(Limit::Time));
        }
        if self.stack_base.abs_diff(stack_position()) > MAX_STACK_BYTES {
            resume_unwind(Box::new(Limit::Depth));
        }
    }

    #[cfg(test)]
    fn spent(&self) -> u32 {
        self.limits.steps - self.steps.get()
    }
}

/// The address of a local: how deep the stack currently is.
#[inline(always)]
fn stack_position() -> usize {
    let probe = 0u8;
    std::hint::black_box(&probe) as *const u8 as usize
}

/// A compiled jq program.
pub(crate) struct Expr {
    filter: jaq_core::Filter<Mapping>,
    /// Whether the program mentions `$lookups` (so lookups need converting).
    pub(crate) uses_lookups: bool,
}

// The template is shared between worker threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Expr>()
};

impl Expr {
    /// Compile a program; the error is a readable sentence.
    pub(crate) fn compile(code: &str) -> Result<Self, String> {
        if code.trim().is_empty() {
            return Err("expression is empty".into());
        }
        // Before jaq sees it: jaq's parser recurses once per level.
        bounds::check_expression(code)?;
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let program = File { code, path: () };
        let modules = loader
            .load(&arena, program)
            .map_err(|errs| describe_load_errors(code, errs))?;
        let filter = Compiler::default()
            .with_funs(natives())
            .with_global_vars(GLOBALS)
            .compile(modules)
            .map_err(|errs| {
                let names: Vec<String> = errs
                    .into_iter()
                    .flat_map(|(_file, errs)| errs)
                    .map(|(name, undefined)| {
                        format!("undefined {} `{name}`", undefined.as_str())
                    })
                    .collect();
                format!(
                    "{} (available variables: $settings, $lookups, $record; environment, input and I/O functions are not available)",
                    names.join(", ")
                )
            })?;
        Ok(Self {
            filter,
            uses_lookups: code.contains("$lookups"),
        })
    }

    /// Run the program on `input`; `Ok(None)` when it yields no output or null.
    ///
    /// Call it inside [`on_roomy_stack`] (jaq values cannot move to another
    /// thread, so it cannot go there itself); the public ways into the
    /// mapping do.
    pub(crate) fn eval(&self, input: Val, globals: [Val; 3]) -> Result<Option<Value>, String> {
        debug_assert!(ROOMY.get(), "tenant programs run inside on_roomy_stack");
        self.eval_within(input, globals, &Budget::new())
    }

    /// [`Self::eval`] on whatever stack this thread has, for tests that
    /// prove a program needs no more than a worker's.
    #[cfg(test)]
    pub(crate) fn eval_on_this_stack(
        &self,
        input: Val,
        globals: [Val; 3],
    ) -> Result<Option<Value>, String> {
        self.eval_within(input, globals, &Budget::new())
    }

    fn eval_within(
        &self,
        input: Val,
        globals: [Val; 3],
        budget: &Budget,
    ) -> Result<Option<Value>, String> {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let data = Metered {
                lut: &self.filter.lut,
                budget,
            };
            let ctx = Ctx::<Mapping>::new(data, Vars::new(globals));
            let first = self.filter.id.run((ctx, input)).next();
            match first {
                None => Ok(None),
                Some(Ok(val)) => {
                    let mut nodes = 0;
                    let json = to_json(&val, &mut nodes, 0);
                    drop_flat(val);
                    json.map(|v| (!v.is_null()).then_some(v))
                }
                Some(Err(exn)) => Err(describe_exn(exn)),
            }
        }));
        match outcome {
            Ok(result) => result,
            Err(payload) => match payload.downcast::<Limit>() {
                Ok(limit) => Err(match *limit {
                    Limit::Steps => format!(
                        "expression stopped after {} steps (endless loop or too much work)",
                        budget.limits.steps
                    ),
                    Limit::Time => format!(
                        "expression stopped after {} ms (endless loop or too much work)",
                        budget.limits.time.as_millis()
                    ),
                    Limit::Depth => "expression stopped: recursion too deep".to_string(),
                }),
                Err(other) => resume_unwind(other),
            },
        }
    }
}

/// Convert a JSON value for jaq.
pub(crate) fn to_val(value: &Value) -> Val {
    Val::deserialize(value).expect("a JSON value is always a valid jaq value")
}

fn to_json(val: &Val, nodes: &mut usize, depth: usize) -> Result<Value, String> {
    *nodes += 1;
    if *nodes > MAX_OUTPUT_NODES {
        return Err(format!(
            "expression output is too large (more than {MAX_OUTPUT_NODES} values)"
        ));
    }
    if depth > MAX_VALUE_DEPTH {
        return Err(format!(
            "expression output nests more than {MAX_VALUE_DEPTH} levels deep"
        ));
    }
    Ok(match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => {
            let text = n.to_string();
            match text.parse::<Number>() {
                Ok(n) => Value::Number(n),
                Err(_) => {
                    return Err(format!(
                        "expression produced the number {text}, which JSON cannot hold"
                    ));
                }
            }
        }
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(a) => {
            let mut out = Vec::with_capacity(a.len());
            for v in a.iter() {
                out.push(to_json(v, nodes, depth + 1)?);
            }
            Value::Array(out)
        }
        Val::Obj(o) => {
            let mut out = Map::new();
            for (k, v) in o.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => other.to_string(),
                };
                out.insert(key, to_json(v, nodes, depth + 1)?);
            }
            Value::Object(out)
        }
    })
}

/// Drop a value without recursing: a program can build one nested far
/// deeper than the stack allows a recursive drop to go (`reduce
/// range(100000) as $i (null; [.])` takes 100000 levels within the step
/// budget). Children whose last reference this is are taken out and dropped
/// from a list on the heap; a shared child only loses a reference.
fn drop_flat(val: Val) {
    let mut pending = vec![val];
    while let Some(v) = pending.pop() {
        match v {
            Val::Arr(a) => {
                if let Ok(items) = jaq_json::Rc::try_unwrap(a) {
                    pending.extend(items);
                }
            }
            Val::Obj(o) => {
                if let Ok(map) = jaq_json::Rc::try_unwrap(o) {
                    for (k, v) in map {
                        pending.push(k);
                        pending.push(v);
                    }
                }
            }
            _ => {}
        }
    }
}

fn describe_exn(exn: Exn<'_, Val>) -> String {
    match exn.get_err() {
        Ok(err) => {
            // `error("text")` reads better without JSON quotes around the text.
            let val = err.into_val();
            let text = match &val {
                Val::TStr(b) => String::from_utf8_lossy(b).into_owned(),
                _ => val.to_string(),
            };
            drop_flat(val);
            shorten(text)
        }
        Err(_) => "expression stopped".to_string(),
    }
}

/// `text` cut to [`MAX_ERROR_CHARS`] characters, saying so.
fn shorten(text: String) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        None => text,
        Some((cut, _)) => format!("{}… (cut at {MAX_ERROR_CHARS} characters)", &text[..cut]),
    }
}

fn describe_load_errors(code: &str, errs: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error as LoadError;
    let mut parts = Vec::new();
    for (_file, err) in errs {
        match err {
            LoadError::Io(errs) => {
                for (path, msg) in errs {
                    parts.push(format!("cannot load module `{path}`: {msg}"));
                }
            }
            LoadError::Lex(errs) => {
                for (expect, found) in errs {
                    parts.push(format!(
                        "syntax error at {}: expected {}",
                        position(code, found),
                        expect.as_str()
                    ));
                }
            }
            LoadError::Parse(errs) => {
                for (expect, found) in errs {
                    let near = if found.is_empty() {
                        "end of expression".to_string()
                    } else {
                        format!("`{}`", found.chars().take(20).collect::<String>())
                    };
                    parts.push(format!(
                        "syntax error at {}: expected {}, found {near}",
                        position(code, found),
                        expect.as_str()
                    ));
                }
            }
        }
    }
    parts.join("; ")
}

/// "column N" of the slice `part` inside `code`.
fn position(code: &str, part: &str) -> String {
    let offset = jaq_core::load::span(code, part).start;
    format!(
        "character {}",
        code[..offset.min(code.len())].chars().count() + 1
    )
}

/// Native filters available to tenants: jaq's core, standard and JSON
/// libraries, minus everything that reads the environment, the clock, the
/// local time zone or further inputs, with logging made silent, `halt`
/// turned into an error and `range` metered.
fn natives() -> Vec<Fun<Mapping>> {
    const LEFT_OUT: [&str; 11] = [
        "env",
        "now",
        "localtime",
        "strflocaltime",
        "input",
        "inputs",
        "halt",
        "debug_empty",
        "stderr_empty",
        "range",
        "fromjson",
    ];
    let library = jaq_core::funs::<Mapping>()
        .chain(jaq_std::funs::<Mapping>())
        .chain(jaq_json::funs::<Mapping>());
    let replacements: [jaq_core::native::Filter<jaq_core::RunPtr<Mapping>>; 5] = [
        ("debug_empty", v(0), |_| Box::new(core::iter::empty())),
        ("stderr_empty", v(0), |_| Box::new(core::iter::empty())),
        ("halt", v(1), |_| {
            box_once(Err(Exn::from(Error::str(
                "halt is not available in mapping expressions",
            ))))
        }),
        ("range", v(3), |mut cv| {
            let by = cv.0.pop_var();
            let to = cv.0.pop_var();
            let from = cv.0.pop_var();
            let budget = cv.0.data().budget;
            Box::new(metered_range(from, to, by, budget))
        }),
        ("fromjson", v(0), |cv| {
            Box::new(from_json_text(&cv.1).into_iter())
        }),
    ];
    library
        .filter(|(name, _, _)| !LEFT_OUT.contains(name))
        .chain(replacements.into_iter().map(run::<Mapping>))
        .collect()
}

/// `fromjson` that refuses text nested deeper than [`MAX_VALUE_DEPTH`]
/// before jaq's recursive JSON reader sees it (`"[" * 100000 | fromjson`
/// would overflow the stack in one step).
fn from_json_text<'a>(input: &Val) -> Vec<ValX<'a, Val>> {
    let fail = |message: String| vec![Err(Exn::from(Error::str(message)))];
    let (Val::TStr(text) | Val::BStr(text)) = input else {
        return fail(format!("cannot parse {input} as JSON: it is not a string"));
    };
    let depth = bounds::json_depth(text);
    if depth > MAX_VALUE_DEPTH {
        return fail(format!(
            "cannot parse JSON nested {depth} levels deep; at most {MAX_VALUE_DEPTH} are allowed"
        ));
    }
    jaq_json::read::parse_many(text)
        .map(|r| r.map_err(|e| Exn::from(Error::str(format!("cannot parse JSON: {e}")))))
        .collect()
}

/// `range($from; $to; $by)` that spends one step per value.
fn metered_range<'a>(
    from: Val,
    to: Val,
    by: Val,
    budget: &'a Budget,
) -> impl Iterator<Item = ValX<'a, Val>> + 'a {
    use core::cmp::Ordering::{Equal, Greater, Less};
    let direction = by.partial_cmp(&Val::from(0isize)).unwrap_or(Equal);
    let mut next = Some(from);
    core::iter::from_fn(move || {
        let x = next.take()?;
        let go = match direction {
            Greater => x < to,
            Less => x > to,
            Equal => x != to,
        };
        if !go {
            return None;
        }
        budget.tick();
        match x.clone() + by.clone() {
            Ok(n) => next = Some(n),
            Err(e) => return Some(Err(Exn::from(e))),
        }
        Some(Ok(x))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn globals(input: &Value) -> [Val; 3] {
        [
            to_val(&json!({"wh": "WH1"})),
            to_val(&json!({"t": {"a": "b"}})),
            to_val(input),
        ]
    }

    fn eval(code: &str, input: Value) -> Result<Option<Value>, String> {
        let e = Expr::compile(code)?;
        on_roomy_stack(|| e.eval(to_val(&input), globals(&input)))
    }

    /// A clock that advances `per_reading` each time the deadline is checked.
    fn stepping(per_reading: Duration) -> Clock {
        Clock::Stepping {
            per_reading,
            readings: Cell::new(0),
        }
    }

    /// Runs `code` under the real limits on a clock that never moves, so the
    /// outcome does not depend on how busy the machine is; also gives the
    /// steps spent.
    fn eval_frozen(code: &str, input: Value) -> (Result<Option<Value>, String>, u32) {
        eval_frozen_within(code, input, Limits::DEFAULT)
    }

    fn eval_frozen_within(
        code: &str,
        input: Value,
        limits: Limits,
    ) -> (Result<Option<Value>, String>, u32) {
        let budget = Budget::with(limits, stepping(Duration::ZERO));
        let e = Expr::compile(code).unwrap();
        let out = e.eval_within(to_val(&input), globals(&input), &budget);
        (out, budget.spent())
    }

    #[test]
    fn runs_a_program_with_settings_lookups_and_record_bound() {
        let out = eval(
            "{w: $settings.wh, t: $lookups.t[.k], id: $record.id, n: (.q | tostring)}",
            json!({"k": "a", "id": "X", "q": 2}),
        );
        assert_eq!(
            out,
            Ok(Some(json!({"w": "WH1", "t": "b", "id": "X", "n": "2"})))
        );
    }

    #[test]
    fn takes_only_the_first_output_and_treats_empty_as_none() {
        assert_eq!(eval("1, 2, 3", json!(null)), Ok(Some(json!(1))));
        assert_eq!(eval("empty", json!(null)), Ok(None));
        assert_eq!(eval("repeat(1)", json!(null)), Ok(Some(json!(1))));
    }

    const ENDLESS: [&str; 7] = [
        "def f: f; f",
        "[repeat(1)]",
        "last(range(1e15))",
        "until(false; .)",
        "[limit(1e9; repeat(.))] | length",
        "def f: [f]; f",
        "[recurse(. + 1)] | length",
    ];

    #[test]
    fn endless_loops_are_stopped_by_the_step_or_depth_limit() {
        // A smaller step budget than MAX_STEPS keeps this quick in a debug
        // build; the guard is the same.
        let limits = Limits {
            steps: 100_000,
            ..Limits::DEFAULT
        };
        for code in ENDLESS {
            let (out, spent) = eval_frozen_within(code, json!(0), limits);
            let err = out.unwrap_err();
            assert!(
                err.contains("stopped after 100000 steps")
                    || err == "expression stopped: recursion too deep",
                "{code}: {err}"
            );
            assert!(spent <= limits.steps, "{code}: {spent} steps");
        }
    }

    #[test]
    fn endless_loops_are_stopped_on_the_real_clock() {
        // Which limit fires first depends on the machine; that one does is not.
        for code in ENDLESS {
            let err = eval(code, json!(0)).unwrap_err();
            assert!(err.starts_with("expression stopped"), "{code}: {err}");
        }
    }

    #[test]
    fn the_deadline_stops_a_program_whose_steps_are_slow() {
        // 1 ms per 1024 steps: 250 ms pass long before the step budget does.
        let budget = Budget::with(Limits::DEFAULT, stepping(Duration::from_millis(1)));
        let e = Expr::compile("last(range(1e15))").unwrap();
        let err = e
            .eval_within(to_val(&json!(0)), globals(&json!(0)), &budget)
            .unwrap_err();
        assert_eq!(
            err,
            "expression stopped after 250 ms (endless loop or too much work)"
        );
        let spent = budget.spent();
        assert!(
            (250 * 1024..252 * 1024).contains(&spent),
            "stopped after {spent} steps"
        );
    }

    #[test]
    fn the_deadline_reads_the_wall_clock() {
        // With no practical step limit only the wall-clock deadline can stop
        // this; u32::MAX steps take seconds even in an optimised build.
        let limits = Limits {
            steps: u32::MAX,
            time: Duration::from_millis(20),
        };
        let budget = Budget::with(limits, Clock::Wall(Instant::now()));
        let e = Expr::compile("last(range(1e15))").unwrap();
        let err = e
            .eval_within(to_val(&json!(0)), globals(&json!(0)), &budget)
            .unwrap_err();
        assert_eq!(
            err,
            "expression stopped after 20 ms (endless loop or too much work)"
        );
    }

    #[test]
    fn legitimate_loops_over_thousands_of_values_fit_the_budget() {
        for (code, expected) in [
            ("[range(10000)] | map(. + 1) | add", json!(50005000)),
            ("reduce range(50000) as $i (0; . + $i)", json!(1249975000)),
            ("[limit(20000; repeat(1))] | length", json!(20000)),
            ("0 | until(. >= 20000; . + 1)", json!(20000)),
            ("[0 | while(. < 20000; . + 1)] | length", json!(20000)),
            (
                "[range(5000) | tostring] | join(\",\") | length",
                json!(23889),
            ),
        ] {
            let (out, spent) = eval_frozen(code, json!(null));
            assert_eq!(out, Ok(Some(expected)), "{code}");
            // Room to spare, so a template doing this is not near the edge.
            assert!(spent < MAX_STEPS / 2, "{code}: {spent} steps");
        }
    }

    #[test]
    fn environment_input_and_halt_are_not_available() {
        for code in [
            "env",
            "$ENV",
            "input",
            "inputs",
            "now",
            "localtime",
            "import \"x\" as x; .",
        ] {
            assert!(Expr::compile(code).is_err(), "{code} compiled");
        }
        assert!(eval("halt", json!(1)).unwrap_err().contains("halt"));
        assert_eq!(eval("debug | . + 1", json!(1)), Ok(Some(json!(2))));
    }

    #[test]
    fn runtime_errors_and_syntax_errors_are_readable() {
        assert_eq!(
            eval("error(\"bad sku\")", json!(1)),
            Err("bad sku".to_string())
        );
        let err = Expr::compile(".a | ").err().unwrap();
        assert!(err.contains("syntax error"), "{err}");
        let err = Expr::compile("nosuchfn(1)").err().unwrap();
        assert!(err.contains("undefined filter `nosuchfn`"), "{err}");
    }

    #[test]
    fn huge_outputs_are_refused() {
        // 200000 values fit the step budget, so only the output check can stop it.
        let (out, _) = eval_frozen("[range(200000)]", json!(null));
        assert_eq!(
            out,
            Err(format!(
                "expression output is too large (more than {MAX_OUTPUT_NODES} values)"
            ))
        );
    }

    #[test]
    fn deeply_nested_values_are_refused_not_overflowed() {
        // A worker thread's stack: a recursive conversion or drop of these
        // outputs would overflow it.
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let (out, _) = eval_frozen("reduce range(20000) as $i (null; [.])", json!(null));
                assert_eq!(
                    out,
                    Err("expression output nests more than 128 levels deep".to_string())
                );
                let (out, _) = eval_frozen("\"[\" * 100000 | fromjson", json!(null));
                assert_eq!(
                    out,
                    Err(
                        "cannot parse JSON nested 100000 levels deep; at most 128 are allowed"
                            .to_string()
                    )
                );
                // Within the limit both still work.
                let (out, _) =
                    eval_frozen("reduce range(100) as $i (0; [.]) | flatten", json!(null));
                assert_eq!(out, Ok(Some(json!([0]))));
                let (out, _) = eval_frozen("\"[[1]]\" | fromjson", json!(null));
                assert_eq!(out, Ok(Some(json!([[1]]))));
            })
            .expect("spawn")
            .join()
            .expect("no panic");
    }

    #[test]
    fn values_as_deep_as_the_budget_allows_never_overflow() {
        // The deepest value the step budget lets a program build is about
        // MAX_STEPS / 3 levels; each of jaq's recursive walks over it must
        // fit the evaluation thread's stack. Called from the test's own
        // (small) thread: `on_roomy_stack` is what makes this survive.
        let deep = |n: u32, then: &str| format!("reduce range({n}) as $i (null; [.]){then}");
        let run = |code: String| on_roomy_stack(move || eval_frozen(&code, json!(null)).0);
        assert_eq!(
            run(deep(1_000_000, "")),
            Err("expression stopped after 1000000 steps (endless loop or too much work)".into()),
            "the value half built when the budget ran out is dropped"
        );
        assert_eq!(
            run(deep(333_000, " | tojson | length")),
            Ok(Some(json!(666_004)))
        );
        assert_eq!(run(deep(330_000, " | . == .")), Ok(Some(json!(true))));
        assert_eq!(
            run("reduce range(240000) as $i ({}; {a: .}) | . * . | length".into()),
            Ok(Some(json!(1)))
        );
        let raised = run(deep(333_000, " | error")).expect_err("error() fails");
        assert!(raised.starts_with("[[[["), "{}", &raised[..40]);
        assert!(
            raised.ends_with("… (cut at 500 characters)") && raised.chars().count() < 600,
            "a raised value is cut to a readable length"
        );
    }
}
