//! Typed calls for the store's resources beside orders (spec §3.2–§3.7), and
//! the ERP's write-back: order status, shipments with tracking, inventory
//! levels. Writes that create send an `Idempotency-Key` so a retry after a
//! lost answer cannot create twice (spec §6). Scopes each call needs:
//!
//! | calls | scope |
//! |---|---|
//! | products reads / writes | `products:read` / `products:write` |
//! | customers reads / writes | `customers:read` / `customers:write` |
//! | inventory reads / set, adjust | `inventory:read` / `inventory:write` |
//! | order status, cancel | `orders:write` |
//! | shipment reads / create | `orders:read` / `shipments:write` |
//! | returns reads / writes | `returns:read` / `returns:write` |
//! | coupons reads / writes | `coupons:read` / `coupons:write` |

use reqwest::Method;
use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{Call, ClarityClient, Created, ListQuery, path_segment};
use super::wire::{
    Coupon, Customer, InventoryAdjustment, InventoryLevels, InventoryRecord, InventorySet,
    NewReturn, NewShipment, Page, Product, RefundRequest, Return, Shipment,
};
use crate::connectors::{ConnectorError, System};

fn to_body(value: &impl Serialize) -> Result<serde_json::Value, ConnectorError> {
    serde_json::to_value(value).map_err(|e| ConnectorError::Protocol {
        system: System::Clarity,
        message: format!("request body: {e}"),
    })
}

impl ClarityClient {
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
        if_match: Option<i64>,
    ) -> Result<T, ConnectorError> {
        self.send(Call {
            method,
            path,
            query: &[],
            body,
            idempotency_key,
            if_match,
        })
        .await
    }

    async fn create_or_find<T: DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        body: &impl Serialize,
    ) -> Result<Created<T>, ConnectorError> {
        let body = to_body(body)?;
        self.send_or_conflict(Call {
            method: Method::POST,
            path,
            query: &[],
            body: Some(&body),
            idempotency_key: Some(idempotency_key),
            if_match: None,
        })
        .await
    }

    // --- orders: status write-back -------------------------------------------

    /// Sets an order's status (e.g. `completed` once the ERP invoiced it);
    /// with `if_match`, only if the order is still at that version.
    pub async fn set_order_status(
        &self,
        order_id: &str,
        status: &str,
        if_match: Option<i64>,
    ) -> Result<serde_json::Value, ConnectorError> {
        let path = format!("/orders/{}", path_segment(order_id));
        let body = serde_json::json!({ "status": status });
        self.call(Method::PATCH, &path, Some(&body), None, if_match)
            .await
    }

    /// Cancels an order (idempotent at Clarity).
    pub async fn cancel_order(&self, order_id: &str) -> Result<serde_json::Value, ConnectorError> {
        let path = format!("/orders/{}/cancel", path_segment(order_id));
        self.call(Method::POST, &path, None, None, None).await
    }

    // --- shipments: tracking write-back ---------------------------------------

    /// Records a shipment with its carrier and tracking number.
    pub async fn record_shipment(
        &self,
        idempotency_key: &str,
        order_id: &str,
        shipment: &NewShipment,
    ) -> Result<Shipment, ConnectorError> {
        let path = format!("/orders/{}/shipments", path_segment(order_id));
        let body = to_body(shipment)?;
        self.call(
            Method::POST,
            &path,
            Some(&body),
            Some(idempotency_key),
            None,
        )
        .await
    }

    pub async fn get_shipment(&self, shipment_id: &str) -> Result<Shipment, ConnectorError> {
        let path = format!("/shipments/{}", path_segment(shipment_id));
        self.call(Method::GET, &path, None, None, None).await
    }

    pub async fn list_shipments(
        &self,
        query: &ListQuery,
    ) -> Result<Page<Shipment>, ConnectorError> {
        self.list_page("/shipments", query).await
    }

    // --- products --------------------------------------------------------------

    pub async fn list_products(&self, query: &ListQuery) -> Result<Page<Product>, ConnectorError> {
        self.list_page("/products", query).await
    }

    /// By product id or SKU.
    pub async fn get_product(&self, id_or_sku: &str) -> Result<Product, ConnectorError> {
        let path = format!("/products/{}", path_segment(id_or_sku));
        self.call(Method::GET, &path, None, None, None).await
    }

    /// Creates a product; a SKU the store already has answers `Exists`.
    pub async fn create_product(
        &self,
        idempotency_key: &str,
        product: &impl Serialize,
    ) -> Result<Created<Product>, ConnectorError> {
        self.create_or_find("/products", idempotency_key, product)
            .await
    }

    /// Replaces a product's writable fields (`PUT`).
    pub async fn replace_product(
        &self,
        product_id: &str,
        product: &impl Serialize,
        if_match: Option<i64>,
    ) -> Result<Product, ConnectorError> {
        let path = format!("/products/{}", path_segment(product_id));
        let body = to_body(product)?;
        self.call(Method::PUT, &path, Some(&body), None, if_match)
            .await
    }

    /// Changes only the fields in `patch` (objects merge, null removes a key).
    pub async fn patch_product(
        &self,
        product_id: &str,
        patch: &serde_json::Value,
        if_match: Option<i64>,
    ) -> Result<Product, ConnectorError> {
        let path = format!("/products/{}", path_segment(product_id));
        self.call(Method::PATCH, &path, Some(patch), None, if_match)
            .await
    }

    // --- customers -------------------------------------------------------------

    pub async fn list_customers(
        &self,
        query: &ListQuery,
    ) -> Result<Page<Customer>, ConnectorError> {
        self.list_page("/customers", query).await
    }

    pub async fn get_customer(&self, customer_id: &str) -> Result<Customer, ConnectorError> {
        let path = format!("/customers/{}", path_segment(customer_id));
        self.call(Method::GET, &path, None, None, None).await
    }

    /// Creates a customer; an email the store already has (in any case)
    /// answers `Exists` with that customer's id.
    pub async fn create_customer(
        &self,
        idempotency_key: &str,
        customer: &impl Serialize,
    ) -> Result<Created<Customer>, ConnectorError> {
        self.create_or_find("/customers", idempotency_key, customer)
            .await
    }

    pub async fn replace_customer(
        &self,
        customer_id: &str,
        customer: &impl Serialize,
        if_match: Option<i64>,
    ) -> Result<Customer, ConnectorError> {
        let path = format!("/customers/{}", path_segment(customer_id));
        let body = to_body(customer)?;
        self.call(Method::PUT, &path, Some(&body), None, if_match)
            .await
    }

    pub async fn patch_customer(
        &self,
        customer_id: &str,
        patch: &serde_json::Value,
        if_match: Option<i64>,
    ) -> Result<Customer, ConnectorError> {
        let path = format!("/customers/{}", path_segment(customer_id));
        self.call(Method::PATCH, &path, Some(patch), None, if_match)
            .await
    }

    // --- inventory -------------------------------------------------------------

    pub async fn list_inventory(
        &self,
        query: &ListQuery,
    ) -> Result<Page<InventoryRecord>, ConnectorError> {
        self.list_page("/inventory", query).await
    }

    /// Every location of one SKU.
    pub async fn get_inventory(&self, sku: &str) -> Result<InventoryLevels, ConnectorError> {
        let path = format!("/inventory/{}", path_segment(sku));
        self.call(Method::GET, &path, None, None, None).await
    }

    /// Sets the on-hand level of a SKU at a location (the ERP is the truth).
    pub async fn set_inventory(
        &self,
        sku: &str,
        location_id: &str,
        level: &InventorySet,
        if_match: Option<i64>,
    ) -> Result<InventoryRecord, ConnectorError> {
        let path = format!(
            "/inventory/{}/locations/{}",
            path_segment(sku),
            path_segment(location_id)
        );
        let body = to_body(level)?;
        self.call(Method::PUT, &path, Some(&body), None, if_match)
            .await
    }

    /// Moves on-hand stock by `delta` (the key is mandatory here: a replayed
    /// delta must not count twice).
    pub async fn adjust_inventory(
        &self,
        idempotency_key: &str,
        adjustment: &InventoryAdjustment,
    ) -> Result<InventoryRecord, ConnectorError> {
        let body = to_body(adjustment)?;
        self.call(
            Method::POST,
            "/inventory/adjustments",
            Some(&body),
            Some(idempotency_key),
            None,
        )
        .await
    }

    // --- returns ---------------------------------------------------------------

    pub async fn list_returns(&self, query: &ListQuery) -> Result<Page<Return>, ConnectorError> {
        self.list_page("/returns", query).await
    }

    pub async fn get_return(&self, return_id: &str) -> Result<Return, ConnectorError> {
        let path = format!("/returns/{}", path_segment(return_id));
        self.call(Method::GET, &path, None, None, None).await
    }

    pub async fn create_return(
        &self,
        idempotency_key: &str,
        rma: &NewReturn,
    ) -> Result<Return, ConnectorError> {
        let body = to_body(rma)?;
        self.call(
            Method::POST,
            "/returns",
            Some(&body),
            Some(idempotency_key),
            None,
        )
        .await
    }

    async fn return_step(
        &self,
        return_id: &str,
        step: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Return, ConnectorError> {
        let path = format!("/returns/{}/{step}", path_segment(return_id));
        self.call(Method::POST, &path, body, None, None).await
    }

    pub async fn approve_return(&self, return_id: &str) -> Result<Return, ConnectorError> {
        self.return_step(return_id, "approve", None).await
    }

    /// The goods are back; lines marked `restock` go back on the shelf.
    pub async fn receive_return(&self, return_id: &str) -> Result<Return, ConnectorError> {
        self.return_step(return_id, "receive", None).await
    }

    /// Refunds `amount` (at most the return's `refundAmount`).
    pub async fn refund_return(
        &self,
        return_id: &str,
        amount: Decimal,
    ) -> Result<Return, ConnectorError> {
        let mut amount = amount.round_dp(2);
        amount.rescale(2);
        let body = serde_json::to_value(RefundRequest { amount }).expect("static shape");
        self.return_step(return_id, "refund", Some(&body)).await
    }

    // --- coupons ---------------------------------------------------------------

    pub async fn list_coupons(&self, query: &ListQuery) -> Result<Page<Coupon>, ConnectorError> {
        self.list_page("/coupons", query).await
    }

    /// By code, in any case.
    pub async fn get_coupon(&self, code: &str) -> Result<Coupon, ConnectorError> {
        let path = format!("/coupons/{}", path_segment(code));
        self.call(Method::GET, &path, None, None, None).await
    }

    /// Creates a coupon; a code the store already has answers `Exists`.
    pub async fn create_coupon(
        &self,
        idempotency_key: &str,
        coupon: &impl Serialize,
    ) -> Result<Created<Coupon>, ConnectorError> {
        self.create_or_find("/coupons", idempotency_key, coupon)
            .await
    }

    pub async fn patch_coupon(
        &self,
        code: &str,
        patch: &serde_json::Value,
        if_match: Option<i64>,
    ) -> Result<Coupon, ConnectorError> {
        let path = format!("/coupons/{}", path_segment(code));
        self.call(Method::PATCH, &path, Some(patch), None, if_match)
            .await
    }
}
