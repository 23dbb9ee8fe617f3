//! The sync pipelines. A flow turns one source event into writes on the target,
//! exactly once: it asks the ledger first, writes with a deterministic
//! idempotency key, and records the target id in the ledger after.
//!
//! Each flow is one file here implementing [`Flow`], and one line in
//! [`FLOWS`]. The engine (`backend/src/sync/`) claims an inbox row, finds
//! the flow that handles it ([`for_event`]), loads what the flow declares
//! it [`Needs`], calls [`Flow::run`], and records the outcome; it holds no
//! flow's own code. Adding a flow, with `orders` as the example:
//!
//! 1. `jobs/src/flows/orders.rs`: a unit struct `Orders` implementing
//!    [`Flow`]: its [`Flow::name`] (the template and ledger key, `"orders"`),
//!    its [`Trigger`] (`order.created` webhooks), its source and target
//!    systems, what it [`Needs`] (the catalog, the tenant's order history),
//!    the id of the record an event is about, and [`Flow::run`], which maps
//!    and writes through the [`FlowContext`] it is given.
//! 2. `pub mod orders;` above, and `&orders::Orders` in [`FLOWS`].

pub mod catalog;
pub mod cursor;
pub mod customers;
pub mod documents;
pub mod inventory;
pub mod invoices;
pub mod ledger;
pub mod orders;
pub mod payments;
pub mod products;
pub mod returns;
pub mod shipments;

use serde_json::Value;

use crate::connectors::clarity::ClarityClient;
use crate::connectors::intacct::IntacctClient;
use crate::connectors::sagepro::SageProClient;
use crate::connectors::{ConnectorError, ErrorClass};
use crate::mapping::pipeline::{Flag, Mapped, MappingInputs};
use crate::mapping::schema::TargetSchema;
use crate::mapping::validate::ValidationIssue;
use crate::mapping::{CompiledTemplate, MappingError};
use ledger::LedgerStore;

/// Every flow the engine runs, in the order the pair page lists them.
///
/// A flow that runs both ways is two entries of one name, one per direction
/// (customers): each has its own trigger and template.
pub static FLOWS: &[&dyn Flow] = &[
    &orders::Orders,
    &customers::Customers,
    &customers::ErpCustomers,
    &products::Products,
    &inventory::Inventory,
    &shipments::Shipments,
    &payments::Payments,
    &returns::Returns,
    &invoices::Invoices,
];

/// The event type of a poll job of `flow` (`poll.inventory`).
pub fn poll_event(flow: &str) -> String {
    format!("{POLL_PREFIX}{flow}")
}

const POLL_PREFIX: &str = "poll.";

/// What an inbox row's event type asks for.
#[derive(Clone, Copy)]
pub enum Work {
    /// One record: a webhook event, or a change a poll found.
    Record(&'static dyn Flow),
    /// A poll of the flow's source.
    Poll(&'static dyn Flow),
}

impl Work {
    pub fn flow(self) -> &'static dyn Flow {
        match self {
            Work::Record(f) | Work::Poll(f) => f,
        }
    }
}

/// The work an inbox row of `event_type` is, if a flow runs it yet.
pub fn for_event(event_type: &str) -> Option<Work> {
    if let Some(name) = event_type.strip_prefix(POLL_PREFIX) {
        return poller(name).map(Work::Poll);
    }
    FLOWS
        .iter()
        .copied()
        .find(|f| match f.trigger() {
            Trigger::Webhook(types) => types.contains(&event_type),
            Trigger::Poll { record } => record == event_type,
        })
        .map(Work::Record)
}

/// The flow of this name (its template and ledger key), if the engine runs
/// it; for a flow that runs both ways, its first direction.
pub fn by_name(name: &str) -> Option<&'static dyn Flow> {
    FLOWS.iter().copied().find(|f| f.name() == name)
}

/// The direction of the flow of this name that polls, if any.
pub fn poller(name: &str) -> Option<&'static dyn Flow> {
    FLOWS
        .iter()
        .copied()
        .find(|f| f.name() == name && matches!(f.trigger(), Trigger::Poll { .. }))
}

/// How a customer both systems hold is kept when both change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictRule {
    /// The ERP is the master: Clarity's changes are not written.
    ErpWins,
    /// Clarity is the master: the ERP's changes are not written.
    ClarityWins,
    /// A change is written when it is newer than the target's record.
    #[default]
    NewestWins,
}

impl ConflictRule {
    pub const NAMES: [&'static str; 3] = ["erp_wins", "clarity_wins", "newest_wins"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "erp_wins" => Some(Self::ErpWins),
            "clarity_wins" => Some(Self::ClarityWins),
            "newest_wins" => Some(Self::NewestWins),
            _ => None,
        }
    }
}

/// What starts a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Clarity webhook events of these types, each one record.
    Webhook(&'static [&'static str]),
    /// A poll of the source's changes since a stored cursor, on the pair's
    /// schedule ([`Flow::poll`]); each change becomes an inbox row of event
    /// type `record`, run like a webhook's.
    Poll { record: &'static str },
}

/// Which side of a pair a flow reads from or writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Clarity,
    /// The pair's ERP, Sage Intacct or Sage Pro.
    Erp,
}

/// What a flow consults besides its template and the tenant's rates, which
/// every mapping gets: the engine loads only what is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// The ERP's items and master data, for SKU resolution and references.
    pub catalog: bool,
    /// The tenant's recent orders and the customer's usual currencies, for
    /// the anomaly checks.
    pub history: bool,
}

/// One flow: declared once, run by the engine for each of its records.
#[async_trait::async_trait]
pub trait Flow: Send + Sync {
    /// Its name in templates, runs, the ledger and metrics (`orders`).
    fn name(&self) -> &'static str;
    /// What one of its records is called in log lines (`order`).
    fn noun(&self) -> &'static str;
    fn trigger(&self) -> Trigger;
    fn source(&self) -> Side;
    fn target(&self) -> Side;
    fn needs(&self) -> Needs;
    /// Which way its records go, as templates say it (`to_erp`,
    /// `to_clarity`): a flow that runs both ways has a template for each.
    fn direction(&self) -> &'static str {
        match self.target() {
            Side::Erp => "to_erp",
            Side::Clarity => "to_clarity",
        }
    }
    /// The id of the record an event is about, for its run; `None` when the
    /// event names none (the run then fails on it).
    fn source_id(&self, event: &Value) -> Option<String>;
    /// Maps the event's record and writes it to the target, exactly once.
    async fn run(&self, ctx: &FlowContext<'_>, event: &Value) -> Result<Written, FlowError>;
    /// Polling flows: the source's changes after `cursor` (`None`: the first
    /// poll), each as an event for [`Flow::run`], and the cursor after them.
    async fn poll(
        &self,
        ctx: &PollContext<'_>,
        cursor: Option<&Value>,
    ) -> Result<PollPage, FlowError> {
        let _ = (ctx, cursor);
        Err(FlowError::Event(format!(
            "the {} flow does not poll",
            self.name()
        )))
    }
}

/// What the engine hands a flow for one poll.
pub struct PollContext<'a> {
    pub clarity: &'a ClarityClient,
    pub erp: &'a ErpTarget,
    /// The template the flow's records run through: its settings say what
    /// to read (the Intacct document type of a shipment).
    pub template: &'a CompiledTemplate,
}

/// What one poll found.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPage {
    pub changes: Vec<Change>,
    /// Where the next poll starts; stored with the changes, in one
    /// transaction, so a crash re-reads and never skips.
    pub cursor: Value,
}

/// One changed record, as an inbox event.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Unique per record and version: a change seen twice is stored once.
    pub event_id: String,
    /// The record's identity (`ITEM@WAREHOUSE`): a newer change of a record
    /// still waiting replaces it, and changes of one record run in order.
    pub subject: String,
    pub record: Value,
}

/// The ERP client for another Intacct entity or Sage Pro company, chosen by
/// the output's `_route` (`None`: that route cannot be served).
pub type Router<'a> = &'a (dyn Fn(&str) -> Option<ErpTarget> + Send + Sync);

/// What the engine hands a flow for one record.
pub struct FlowContext<'a> {
    pub clarity: &'a ClarityClient,
    pub erp: &'a ErpTarget,
    /// Clients for the entity or company a template routes a record to
    /// (`_route.entity`, `_route.company`); without one, routed records go
    /// through `erp` as connected.
    pub router: Option<Router<'a>>,
    pub template: &'a CompiledTemplate,
    /// The target record's schema, to validate the output against.
    pub schema: Option<&'a TargetSchema>,
    pub inputs: MappingInputs<'a>,
    pub ledger: &'a dyn LedgerStore,
    /// The pair's rule for records both systems change (customers).
    pub conflict_rule: ConflictRule,
    /// Which attempt at this record this is, from 1. A later attempt may
    /// follow a write that reached the target but whose answer was lost.
    pub attempt: i64,
}

/// A record a flow has brought to its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub source_id: String,
    pub target_id: String,
    /// False when the ledger already knew the record: nothing was written.
    pub created: bool,
    /// Fuzzy SKU matches and anomalies, recorded on the run.
    pub flags: Vec<Flag>,
    /// The order as the tenant's history should remember it (normalized,
    /// in its own currency); `None` when nothing was written or the flow
    /// keeps no history.
    pub history: Option<Value>,
    /// Why nothing was written, when the flow decided so (our own write
    /// coming back, a conflict rule): the run shows it as skipped.
    pub skipped: Option<String>,
}

impl Written {
    /// The ledger knew the record: nothing was written.
    pub fn already(source_id: String, target_id: String) -> Self {
        Self {
            source_id,
            target_id,
            created: false,
            flags: Vec::new(),
            history: None,
            skipped: None,
        }
    }

    /// Written now, with what the mapping flagged on the way.
    pub fn created(source_id: String, target_id: String, flags: Vec<Flag>) -> Self {
        Self {
            source_id,
            target_id,
            created: true,
            flags,
            history: None,
            skipped: None,
        }
    }

    /// Not written, and why (our own write coming back, a conflict rule).
    pub fn skipped(source_id: String, target_id: String, why: String) -> Self {
        Self {
            skipped: Some(why),
            ..Self::already(source_id, target_id)
        }
    }
}

/// The mapped record to send, or every issue that refuses it: a record with
/// any validation issue is refused before anything is written. The flags
/// and the normalized source stay in `mapped` for the run.
pub(crate) fn accepted_output(mapped: &mut Mapped) -> Result<Value, FlowError> {
    match mapped.output.take() {
        Some(output) if mapped.issues.is_empty() => Ok(output),
        _ => Err(FlowError::Invalid {
            issues: std::mem::take(&mut mapped.issues),
            flags: std::mem::take(&mut mapped.flags),
        }),
    }
}

/// Takes the output's `_route` (where the record goes; it is never sent)
/// and gives the client for that entity or company, or `None` to write
/// through the pair's ERP as connected.
pub(crate) fn route(
    ctx: &FlowContext<'_>,
    output: &mut Value,
) -> Result<Option<ErpTarget>, FlowError> {
    let route = output
        .as_object_mut()
        .and_then(|o| o.remove("_route"))
        .and_then(|r| {
            ["entity", "company"]
                .iter()
                .find_map(|k| r.get(k).and_then(Value::as_str).map(str::to_owned))
        })
        .filter(|r| !r.trim().is_empty());
    match (route, ctx.router) {
        (Some(route), Some(router)) => router(&route).map(Some).ok_or_else(|| FlowError::Mapping {
            target: "_route".into(),
            message: format!("the record is routed to `{route}`, which this pair cannot reach"),
        }),
        _ => Ok(None),
    }
}

/// The ERP's id of the order a payment or return is about, once the orders
/// flow has written it; until then the record waits (retried with backoff,
/// and a dead letter naming the order if it never comes).
pub(crate) async fn written_order(
    ctx: &FlowContext<'_>,
    order_id: &str,
    noun: &str,
) -> Result<String, FlowError> {
    let key = ledger::LedgerKey {
        flow: "orders",
        source_id: order_id.to_owned(),
        operation: "create",
    };
    let entry = ctx
        .ledger
        .lookup(
            &key,
            &ledger::idempotency_key("clarity", "orders", order_id, "create"),
        )
        .await?;
    entry.target_id.ok_or_else(|| FlowError::Waiting {
        message: format!(
            "order {order_id} has not been written to the ERP yet; the {noun} waits for it"
        ),
    })
}

/// The ERP side of a pair.
#[derive(Clone)]
pub enum ErpTarget {
    Intacct(IntacctClient),
    Sagepro(SageProClient),
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("mapping {target}: {message}")]
    Mapping { target: String, message: String },
    /// The mapped record would be refused: every issue, each naming the
    /// field, the value, the rule and a correction. Retrying cannot help;
    /// fixing the template (or the tenant's data) and replaying can.
    #[error("{}", describe_issues(.issues))]
    Invalid {
        issues: Vec<ValidationIssue>,
        /// What was flagged on the way, recorded with the failure.
        flags: Vec<Flag>,
    },
    /// The event itself is unusable (no order id, …): retrying cannot help.
    #[error("event: {0}")]
    Event(String),
    /// The record depends on another not written yet (a payment on its
    /// order): retried with backoff, a dead letter naming what is missing
    /// once the attempts run out.
    #[error("{message}")]
    Waiting { message: String },
    /// Our own storage failed; the work is intact and will be retried.
    #[error("storage: {0}")]
    Store(#[from] anyhow::Error),
}

impl From<MappingError> for FlowError {
    fn from(e: MappingError) -> Self {
        FlowError::Mapping {
            target: e.target,
            message: e.message,
        }
    }
}

impl FlowError {
    pub fn class(&self) -> ErrorClass {
        match self {
            FlowError::Connector(e) => e.class(),
            FlowError::Mapping { .. } | FlowError::Invalid { .. } | FlowError::Event(_) => {
                ErrorClass::Permanent
            }
            FlowError::Store(_) | FlowError::Waiting { .. } => {
                ErrorClass::Transient { retry_after: None }
            }
        }
    }

    /// The field a permanent failure is about, for the dead letter.
    pub fn field(&self) -> Option<String> {
        match self {
            FlowError::Connector(e) => e.field().map(str::to_owned),
            FlowError::Mapping { target, .. } => Some(target.clone()),
            FlowError::Invalid { issues, .. } => issues.first().map(|i| i.field.clone()),
            FlowError::Event(_) | FlowError::Store(_) => None,
            FlowError::Waiting { .. } => Some("orderId".into()),
        }
    }
}

/// One line for the run's error: how many issues, then the first few (the
/// dead letter's details hold them all).
fn describe_issues(issues: &[ValidationIssue]) -> String {
    const SHOWN: usize = 5;
    let mut text = match issues.len() {
        1 => "1 validation issue: ".to_owned(),
        n => format!("{n} validation issues: "),
    };
    for (i, issue) in issues.iter().take(SHOWN).enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(&format!(
            "`{}` ({}): {}",
            issue.field, issue.rule, issue.message
        ));
    }
    if issues.len() > SHOWN {
        text.push_str(&format!("; and {} more", issues.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::validate::Rule;

    fn issue(field: &str) -> ValidationIssue {
        ValidationIssue {
            record: "CO-1".into(),
            field: field.into(),
            value: None,
            rule: Rule::Reference,
            message: format!("{field} is wrong"),
            suggestion: None,
        }
    }

    #[test]
    fn refused_records_are_permanent_and_name_their_first_field() {
        let e = FlowError::Invalid {
            issues: (0..7).map(|i| issue(&format!("f{i}"))).collect(),
            flags: Vec::new(),
        };
        assert_eq!(e.class(), ErrorClass::Permanent);
        assert_eq!(e.field().as_deref(), Some("f0"));
        let text = e.to_string();
        assert!(
            text.starts_with("7 validation issues: `f0` (reference): f0 is wrong; `f1`"),
            "{text}"
        );
        assert!(text.ends_with("; and 2 more"), "{text}");
        assert!(!text.contains("f5"), "{text}");
    }
}
