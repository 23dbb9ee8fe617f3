//! The seed data every sandbox starts with, shared by the three simulators so that
//! an order placed in the Clarity simulator names SKUs and customers that the ERP
//! simulators know. Deterministic: the same pair always gets the same catalog.

/// How long before its pair the seeded company was last changed: a sandbox
/// starts as a company that has been running a while, so what changes after
/// the pair is made stands apart from the seed (a flow's first run reads the
/// changes since its pair was made).
pub const SEED_AGE_MS: i64 = 30 * 24 * 3600 * 1000;

/// One sellable item.
#[derive(Debug, Clone)]
pub struct Product {
    pub sku: String,
    pub name: String,
    /// Price in cents (USD).
    pub price_cents: i64,
    pub weight_grams: i64,
    pub category: &'static str,
}

#[derive(Debug, Clone)]
pub struct Customer {
    /// The same id in Clarity (`customerId`), Intacct (`CUSTOMERID`) and Sage Pro (`CustomerNo`).
    pub id: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub company: Option<&'static str>,
    pub email: String,
    pub address: Address,
    pub currency: &'static str,
}

#[derive(Debug, Clone)]
pub struct Address {
    pub line1: String,
    pub city: &'static str,
    pub region: &'static str,
    pub postal_code: &'static str,
    pub country: &'static str,
}

#[derive(Debug, Clone)]
pub struct Warehouse {
    pub intacct_id: &'static str,
    pub sagepro_code: &'static str,
    pub name: &'static str,
}

pub const WAREHOUSES: [Warehouse; 3] = [
    Warehouse {
        intacct_id: "WH1",
        sagepro_code: "MAIN",
        name: "Austin main warehouse",
    },
    Warehouse {
        intacct_id: "WH2",
        sagepro_code: "WEST",
        name: "Reno west-coast warehouse",
    },
    Warehouse {
        intacct_id: "WH3",
        sagepro_code: "EAST",
        name: "Columbus east warehouse",
    },
];

/// Intacct entities of the sandbox company (multi-entity).
pub const ENTITIES: [(&str, &str); 2] = [
    ("US-EAST", "Clarity Demo East"),
    ("US-WEST", "Clarity Demo West"),
];

/// GL accounts, including the ones the Intacct spec's examples post to (1010
/// net deposit, 1210 undeposited clearing, 6150 processor fees, 4000 sales)
/// and every one the pre-built templates name (the payments template's
/// undeposited accounts per method, the returns template's accounts per
/// condition), so a sandbox pair runs every flow as installed.
pub const GL_ACCOUNTS: [(&str, &str); 14] = [
    ("1000", "Cash - Operating"),
    ("1010", "Undeposited Funds"),
    ("1200", "Accounts Receivable"),
    ("1210", "Undeposited Funds Clearing"),
    ("1215", "Undeposited Funds - PayPal"),
    ("1220", "Undeposited Funds - ACH"),
    ("1400", "Inventory"),
    ("2200", "Sales Tax Payable"),
    ("2400", "Gift Card Liability"),
    ("4000", "Product Sales"),
    ("4100", "Shipping Income"),
    ("4900", "Sales Discounts"),
    ("4910", "Sales Returns - Damaged"),
    ("6150", "Merchant Processing Fees"),
];

pub const PAYMENT_METHODS: [&str; 5] = ["Credit Card", "EFT", "Check", "Cash", "PayPal"];

pub const TAX_CODES: [(&str, &str); 3] = [("TX", "8.25"), ("CA", "7.25"), ("EXEMPT", "0")];

pub const DEPARTMENTS: [&str; 3] = ["ECOM", "RETAIL", "WHOLESALE"];
pub const CLASSES: [&str; 2] = ["B2C", "B2B"];
pub const PROJECTS: [&str; 2] = ["P-2026", "P-LAUNCH"];

const ADJECTIVES: [&str; 10] = [
    "Classic",
    "Compact",
    "Deluxe",
    "Heavy-Duty",
    "Eco",
    "Premium",
    "Pocket",
    "Pro",
    "Travel",
    "Smart",
];
const NOUNS: [(&str, &str); 20] = [
    ("Widget", "hardware"),
    ("Lantern", "outdoor"),
    ("Backpack", "outdoor"),
    ("Water Bottle", "outdoor"),
    ("Desk Lamp", "office"),
    ("Notebook", "office"),
    ("Stapler", "office"),
    ("Headphones", "electronics"),
    ("Charger", "electronics"),
    ("Keyboard", "electronics"),
    ("Mug", "kitchen"),
    ("Kettle", "kitchen"),
    ("Skillet", "kitchen"),
    ("Towel Set", "home"),
    ("Pillow", "home"),
    ("Blanket", "home"),
    ("Drill", "hardware"),
    ("Hammer", "hardware"),
    ("Tape Measure", "hardware"),
    ("Glove Pair", "hardware"),
];

/// 200 SKUs, `SKU-1001` … `SKU-1200`.
pub fn products() -> Vec<Product> {
    (0..200)
        .map(|i| {
            let (noun, category) = NOUNS[i % NOUNS.len()];
            let adjective = ADJECTIVES[(i / NOUNS.len()) % ADJECTIVES.len()];
            // Prices from 4.99 to about 250, always ending in .99 or .49.
            let dollars = 4 + (i as i64 * 37) % 246;
            let cents = if i % 3 == 0 { 49 } else { 99 };
            Product {
                sku: format!("SKU-{}", 1001 + i),
                name: format!("{adjective} {noun}"),
                price_cents: dollars * 100 + cents,
                weight_grams: 100 + (i as i64 * 53) % 4900,
                category,
            }
        })
        .collect()
}

const FIRST: [&str; 10] = [
    "Jane", "Omar", "Priya", "Luis", "Mei", "Tom", "Aisha", "Erik", "Sofia", "Kwame",
];
const LAST: [&str; 8] = [
    "Doe", "Haddad", "Raman", "Garcia", "Chen", "Becker", "Okafor", "Larsen",
];
const COMPANIES: [Option<&str>; 4] = [None, Some("Acme Supply"), None, Some("Northwind Traders")];
const PLACES: [(&str, &str, &str, &str); 6] = [
    ("Austin", "TX", "78701", "US"),
    ("Reno", "NV", "89501", "US"),
    ("Columbus", "OH", "43215", "US"),
    ("Portland", "OR", "97205", "US"),
    ("Toronto", "ON", "M5V 2T6", "CA"),
    ("Denver", "CO", "80202", "US"),
];

/// 40 customers, `CUS-5001` … `CUS-5040`.
pub fn customers() -> Vec<Customer> {
    (0..40)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / 2) % LAST.len()];
            let (city, region, postal_code, country) = PLACES[i % PLACES.len()];
            Customer {
                id: format!("CUS-{}", 5001 + i),
                first_name: first,
                last_name: last,
                company: COMPANIES[i % COMPANIES.len()],
                email: format!(
                    "{}.{}{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    i
                ),
                address: Address {
                    line1: format!("{} Main St", 100 + i * 7),
                    city,
                    region,
                    postal_code,
                    country,
                },
                currency: if country == "CA" { "CAD" } else { "USD" },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_200_unique_skus_and_40_unique_customers() {
        let skus: std::collections::HashSet<_> = products().into_iter().map(|p| p.sku).collect();
        assert_eq!(skus.len(), 200);
        let ids: std::collections::HashSet<_> = customers().into_iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 40);
    }

    #[test]
    fn every_price_is_positive() {
        assert!(products().iter().all(|p| p.price_cents > 0));
    }
}
