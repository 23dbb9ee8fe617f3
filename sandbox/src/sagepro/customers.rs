//! Customer master (spec §3.3): create with a generated `CustomerNo` when none
//! is sent, unique `Email`, updates with `If-Match`; lists and reads.

use super::wire::{Customer, CustomerInput};
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rust_decimal::Decimal;

use super::access::Principal;
use super::idempotency::{IdemKey, answer};
use super::listing::{ListQuery, Sorting};
use super::lookup;
use super::masters::one_body;
use super::rules::{check_len, check_money, clean_address, one_of};
use super::{SpError, SpResult, check_version, if_match, parse_body};
use crate::SandboxState;
use crate::clarity::rfc3339_ms;
use connect_store::{is_unique_violation, now_ms};

const STATUSES: [&str; 2] = ["Active", "Inactive"];

/// `GET /customers`: `CustomerNo`, `Email`, `NameContains`, `ModifiedSince`.
pub(super) async fn list(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> SpResult<Response> {
    const SORTING: Sorting = Sorting {
        fields: &[("CustomerNo", "customer_no"), ("Email", "email_lower")],
        key: "customer_no",
    };
    let mut q = ListQuery::parse(
        raw.as_deref(),
        &pair_id,
        state.db.kind(),
        &["CustomerNo", "Email", "NameContains"],
        &SORTING,
    )?;
    q.codes("CustomerNo", "customer_no");
    let emails: Vec<String> = q
        .params
        .all("Email")
        .iter()
        .map(|e| e.trim().to_lowercase())
        .collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    q.filter.any_of("email_lower", &emails, false);
    // The customer's name: its company or its contact (not the rest of the
    // record, whose addresses and codes would match too).
    let names = [q.body_field("Company"), q.body_field("Contact")];
    if let Some(part) = q.params.one("NameContains").map(str::to_owned) {
        q.contains(&names, &part);
    }
    q.body_page(&state.db, "sim_sagepro_customers").await
}

pub(super) async fn get_one(
    State(state): State<SandboxState>,
    Path((pair_id, customer_no)): Path<(String, String)>,
) -> SpResult<Response> {
    one_body(
        &state,
        "SELECT body FROM sim_sagepro_customers WHERE pair_id = $1 AND customer_no = $2",
        &pair_id,
        &customer_no,
        "Customer",
    )
    .await
}

/// `POST /customers`.
pub(super) async fn create(
    State(state): State<SandboxState>,
    Path(pair_id): Path<String>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    const ROUTE: &str = "POST /customers";
    let (raw, input): (_, CustomerInput) = parse_body(&body, &super::CUSTOMER_BODY)?;
    let idem = IdemKey::from_headers(&principal, &headers, ROUTE.to_owned(), &raw, true)?
        .expect("required keys are present");
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(replayed) = idem.replay(&mut tx, &pair_id, now).await? {
        return Ok(replayed);
    }
    let blank = Customer {
        customer_no: String::new(),
        company: String::new(),
        contact: String::new(),
        email: String::new(),
        phone: String::new(),
        bill_to_address: Default::default(),
        ship_to_address: Default::default(),
        payment_terms: "NET30".to_owned(),
        tax_code: String::new(),
        credit_limit: Decimal::ZERO,
        balance: Decimal::ZERO,
        on_hold: false,
        status: "Active".to_owned(),
        external_customer_id: String::new(),
        row_version: 1,
        last_modified: rfc3339_ms(now),
    };
    let mut customer = apply(&mut tx, &pair_id, &input, blank).await?;
    customer.customer_no = match input.customer_no.as_deref().map(str::trim) {
        Some(no) if !no.is_empty() => {
            let no = no.to_uppercase();
            check_len("CustomerNo", &no, 10)?;
            if exists(&mut tx, &pair_id, &no).await? {
                return Err(SpError::duplicate("CustomerNo", &no, &no));
            }
            no
        }
        _ => generate_number(&mut tx, &pair_id, &customer).await?,
    };
    check_email_unique(&mut tx, &pair_id, &customer.email, None).await?;
    let value = serde_json::to_value(&customer).map_err(SpError::internal)?;
    let inserted = sqlx::query(
        "INSERT INTO sim_sagepro_customers (pair_id, customer_no, email_lower, body, row_version, last_modified) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(&pair_id)
    .bind(&customer.customer_no)
    .bind(email_key(&customer.email))
    .bind(value.to_string())
    .bind(customer.row_version)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        return Err(if is_unique_violation(&e) {
            SpError::duplicate("Email", &customer.email, "another customer")
        } else {
            e.into()
        });
    }
    idem.record(&mut tx, &pair_id, StatusCode::CREATED, &value, now)
        .await?;
    tx.commit().await?;
    Ok(answer(ROUTE, StatusCode::CREATED, &value))
}

/// `PUT /customers/{CustomerNo}`: fields sent replace, fields absent stay.
pub(super) async fn update(
    State(state): State<SandboxState>,
    Path((pair_id, customer_no)): Path<(String, String)>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> SpResult<Response> {
    let no = customer_no.trim().to_uppercase();
    let route = format!("PUT /customers/{no}");
    let (raw, input): (_, CustomerInput) = parse_body(&body, &super::CUSTOMER_BODY)?;
    let idem = IdemKey::from_headers(&principal, &headers, route.clone(), &raw, false)?;
    let expected = if_match(&headers)?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    if let Some(idem) = &idem
        && let Some(replayed) = idem.replay(&mut tx, &pair_id, now).await?
    {
        return Ok(replayed);
    }
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT body FROM sim_sagepro_customers WHERE pair_id = $1 AND customer_no = $2",
    )
    .bind(&pair_id)
    .bind(&no)
    .fetch_optional(&mut *tx)
    .await?;
    let (body,) = row.ok_or_else(|| SpError::not_found(format!("Customer '{no}' not found")))?;
    let current: Customer = serde_json::from_str(&body).map_err(SpError::internal)?;
    check_version(expected, current.row_version, "CustomerNo", &no)?;
    if let Some(sent) = input.customer_no.as_deref()
        && !sent.trim().is_empty()
        && sent.trim().to_uppercase() != no
    {
        return Err(SpError::validation(
            "CustomerNo cannot be changed",
            "CustomerNo",
            format!("'{sent}' in the body, '{no}' in the path"),
        ));
    }
    let version = current.row_version;
    let mut customer = apply(&mut tx, &pair_id, &input, current).await?;
    customer.row_version = version + 1;
    customer.last_modified = rfc3339_ms(now);
    check_email_unique(&mut tx, &pair_id, &customer.email, Some(&no)).await?;
    let value = serde_json::to_value(&customer).map_err(SpError::internal)?;
    let updated = sqlx::query(
        "UPDATE sim_sagepro_customers SET email_lower = $3, body = $4, row_version = $5, last_modified = $6 \
         WHERE pair_id = $1 AND customer_no = $2",
    )
    .bind(&pair_id)
    .bind(&no)
    .bind(email_key(&customer.email))
    .bind(value.to_string())
    .bind(customer.row_version)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(e) = updated {
        return Err(if is_unique_violation(&e) {
            SpError::duplicate("Email", &customer.email, "another customer")
        } else {
            e.into()
        });
    }
    if let Some(idem) = &idem {
        idem.record(&mut tx, &pair_id, StatusCode::OK, &value, now)
            .await?;
    }
    tx.commit().await?;
    Ok(answer(&route, StatusCode::OK, &value))
}

/// The email column: lower-case, `NULL` when blank (blank emails repeat).
fn email_key(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    (!e.is_empty()).then_some(e)
}

async fn exists(conn: &mut sqlx::AnyConnection, pair_id: &str, no: &str) -> SpResult<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT customer_no FROM sim_sagepro_customers WHERE pair_id = $1 AND customer_no = $2",
    )
    .bind(pair_id)
    .bind(no)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// `409 DUPLICATE` naming the customer that already has this email.
async fn check_email_unique(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    email: &str,
    own: Option<&str>,
) -> SpResult<()> {
    let Some(key) = email_key(email) else {
        return Ok(());
    };
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT customer_no FROM sim_sagepro_customers WHERE pair_id = $1 AND email_lower = $2",
    )
    .bind(pair_id)
    .bind(&key)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some((no,)) if Some(no.as_str()) != own => Err(SpError::duplicate("Email", email, &no)),
        _ => Ok(()),
    }
}

/// The spec's rule: first 4 letters of the last name, the first initial, and
/// the lowest free 2-digit sequence (`Jane Doe` → `DOEJ01`). The name is the
/// contact's, else the company's.
pub(super) fn number_prefix(contact: &str, company: &str) -> Option<String> {
    let name = if contact.trim().is_empty() {
        company
    } else {
        contact
    };
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_ascii_alphabetic())
                .collect::<String>()
                .to_uppercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let last = words.last()?;
    let mut prefix: String = last.chars().take(4).collect();
    if words.len() > 1 {
        prefix.extend(words[0].chars().next());
    }
    Some(prefix)
}

async fn generate_number(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    customer: &Customer,
) -> SpResult<String> {
    let prefix = number_prefix(&customer.contact, &customer.company).ok_or_else(|| {
        SpError::validation(
            "No Customer Number",
            "CustomerNo",
            "Send CustomerNo, or a Contact or Company name to generate it from",
        )
    })?;
    let taken: Vec<(String,)> = sqlx::query_as(
        "SELECT customer_no FROM sim_sagepro_customers WHERE pair_id = $1 AND customer_no LIKE $2",
    )
    .bind(pair_id)
    .bind(format!("{prefix}%"))
    .fetch_all(&mut *conn)
    .await?;
    (1..=99)
        .map(|n| format!("{prefix}{n:02}"))
        .find(|no| !taken.iter().any(|(t,)| t == no))
        .ok_or_else(|| {
            SpError::validation(
                "No Customer Number",
                "CustomerNo",
                format!("All 99 numbers starting {prefix} are taken; send CustomerNo"),
            )
        })
}

/// `base` with the fields `input` sends, validated.
async fn apply(
    conn: &mut sqlx::AnyConnection,
    pair_id: &str,
    input: &CustomerInput,
    mut c: Customer,
) -> SpResult<Customer> {
    let text =
        |v: &Option<String>, old: &str| v.as_deref().map(str::trim).unwrap_or(old).to_owned();
    c.company = text(&input.company, &c.company);
    check_len("Company", &c.company, 40)?;
    c.contact = text(&input.contact, &c.contact);
    check_len("Contact", &c.contact, 30)?;
    c.email = text(&input.email, &c.email);
    check_len("Email", &c.email, 60)?;
    if !c.email.is_empty() && !c.email.contains('@') {
        return Err(SpError::validation(
            "Invalid Email",
            "Email",
            format!("'{}' is not an email address", c.email),
        ));
    }
    c.phone = text(&input.phone, &c.phone);
    check_len("Phone", &c.phone, 20)?;
    if let Some(a) = &input.bill_to_address {
        c.bill_to_address = clean_address("BillToAddress", a)?;
    }
    if let Some(a) = &input.ship_to_address {
        c.ship_to_address = clean_address("ShipToAddress", a)?;
    }
    c.payment_terms = text(&input.payment_terms, &c.payment_terms).to_uppercase();
    check_len("PaymentTerms", &c.payment_terms, 20)?;
    lookup::terms(conn, pair_id, &c.payment_terms).await?;
    c.tax_code = text(&input.tax_code, &c.tax_code).to_uppercase();
    check_len("TaxCode", &c.tax_code, 6)?;
    if !c.tax_code.is_empty() {
        let known: Option<(String,)> = sqlx::query_as(
            "SELECT code FROM sim_sagepro_tax_codes WHERE pair_id = $1 AND code = $2",
        )
        .bind(pair_id)
        .bind(&c.tax_code)
        .fetch_optional(&mut *conn)
        .await?;
        if known.is_none() {
            return Err(SpError::validation(
                "Invalid Tax Code",
                "TaxCode",
                format!("Tax code '{}' does not exist", c.tax_code),
            ));
        }
    }
    if let Some(limit) = input.credit_limit {
        check_money("CreditLimit", limit, false)?;
        c.credit_limit = limit.normalize();
    }
    if let Some(on_hold) = input.on_hold {
        c.on_hold = on_hold;
    }
    if let Some(status) = &input.status {
        c.status = one_of("Status", status.trim(), &STATUSES)?;
    }
    c.external_customer_id = text(&input.external_customer_id, &c.external_customer_id);
    check_len("ExternalCustomerId", &c.external_customer_id, 30)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_last_name_and_first_initial() {
        assert_eq!(number_prefix("Jane Doe", "").as_deref(), Some("DOEJ"));
        assert_eq!(
            number_prefix("Robert  Fitzgerald", "").as_deref(),
            Some("FITZR")
        );
        assert_eq!(number_prefix("", "Acme").as_deref(), Some("ACME"));
        assert_eq!(number_prefix(" ", "--").as_deref(), None);
    }
}
