//! The objects the simulated company holds: their id fields, required fields and
//! the fields a query may name (spec §6). The full field lists `lookup` shows
//! live in [`super::fields`].

use super::fields::{self, FieldDef, FieldType};

/// How one object type behaves in the generic functions.
#[derive(Debug)]
pub struct ObjectDef {
    /// Upper-case object name, as in `<object>CUSTOMER</object>`.
    pub name: &'static str,
    /// The business id field (`CUSTOMERID`); `None` when records are known by RECORDNO only.
    pub id_field: Option<&'static str>,
    /// Fields a generic `create` must carry (dotted for nested ones).
    pub required: &'static [&'static str],
    /// The fields the simulator stores, in the order `*` returns them (the real
    /// service returns every field; the stored ones keep replies small).
    /// RECORDNO, WHENCREATED and WHENMODIFIED are always there.
    pub fields: &'static [&'static str],
    /// The field stored in the `reference` column for look-ups.
    pub reference_field: Option<&'static str>,
    /// Can the generic create/update/delete change it?
    pub writable: bool,
    /// Every field `lookup` lists, typed; any of them may be selected and
    /// filtered on.
    pub catalog: &'static [FieldDef],
}

const SYSTEM_FIELDS: [&str; 3] = ["RECORDNO", "WHENCREATED", "WHENMODIFIED"];

pub const OBJECTS: &[ObjectDef] = &[
    ObjectDef {
        name: "CUSTOMER",
        id_field: Some("CUSTOMERID"),
        required: &["CUSTOMERID", "NAME", "DISPLAYCONTACT.PRINTAS"],
        fields: &[
            "CUSTOMERID",
            "NAME",
            "STATUS",
            "TERMNAME",
            "CURRENCY",
            "CREDITLIMIT",
            "TAXID",
            "ONHOLD",
            "CUSTTYPE",
            "PARENTID",
            "DISPLAYCONTACT",
            "BILLTO",
            "SHIPTO",
            "CONTACTINFO",
        ],
        reference_field: None,
        writable: true,
        catalog: fields::CUSTOMER,
    },
    ObjectDef {
        name: "CONTACT",
        id_field: Some("CONTACTNAME"),
        required: &["CONTACTNAME", "PRINTAS"],
        fields: &[
            "CONTACTNAME",
            "PRINTAS",
            "COMPANYNAME",
            "FIRSTNAME",
            "LASTNAME",
            "EMAIL1",
            "PHONE1",
            "STATUS",
            "MAILADDRESS",
        ],
        reference_field: None,
        writable: true,
        catalog: fields::CONTACT,
    },
    ObjectDef {
        name: "ITEM",
        id_field: Some("ITEMID"),
        required: &["ITEMID", "NAME", "ITEMTYPE"],
        fields: &[
            "ITEMID",
            "NAME",
            "STATUS",
            "ITEMTYPE",
            "BASEPRICE",
            "STANDARD_COST",
            "TAXABLE",
            "UOMGRP",
            "GLGROUP",
            "PRODUCTLINEID",
            "SODESCRIPTION",
            "WEIGHT",
        ],
        reference_field: None,
        writable: true,
        catalog: fields::ITEM,
    },
    ObjectDef {
        name: "ITEMWAREHOUSEINFO",
        id_field: None,
        required: &[],
        fields: &["ITEMID", "WAREHOUSEID", "ONHAND", "ONORDER", "ONHOLD"],
        reference_field: None,
        writable: false,
        catalog: fields::ITEMWAREHOUSEINFO,
    },
    ObjectDef {
        name: "WAREHOUSE",
        id_field: Some("WAREHOUSEID"),
        required: &["WAREHOUSEID", "NAME"],
        fields: &["WAREHOUSEID", "NAME", "LOCATIONID", "STATUS"],
        reference_field: None,
        writable: true,
        catalog: fields::WAREHOUSE,
    },
    ObjectDef {
        name: "LOCATION",
        id_field: Some("LOCATIONID"),
        required: &["LOCATIONID", "NAME"],
        fields: &[
            "LOCATIONID",
            "NAME",
            "PARENTID",
            "STATUS",
            "CURRENCY",
            "ENTITY",
        ],
        reference_field: None,
        writable: true,
        catalog: fields::LOCATION,
    },
    ObjectDef {
        name: "DEPARTMENT",
        id_field: Some("DEPARTMENTID"),
        required: &["DEPARTMENTID", "TITLE"],
        fields: &["DEPARTMENTID", "TITLE", "PARENTID", "STATUS"],
        reference_field: None,
        writable: true,
        catalog: fields::DEPARTMENT,
    },
    ObjectDef {
        name: "CLASS",
        id_field: Some("CLASSID"),
        required: &["CLASSID", "NAME"],
        fields: &["CLASSID", "NAME", "PARENTID", "STATUS"],
        reference_field: None,
        writable: true,
        catalog: fields::CLASS,
    },
    ObjectDef {
        name: "PROJECT",
        id_field: Some("PROJECTID"),
        required: &["PROJECTID", "NAME", "PROJECTCATEGORY"],
        fields: &[
            "PROJECTID",
            "NAME",
            "PROJECTCATEGORY",
            "PROJECTSTATUS",
            "CUSTOMERID",
            "STATUS",
        ],
        reference_field: None,
        writable: true,
        catalog: fields::PROJECT,
    },
    ObjectDef {
        name: "GLACCOUNT",
        id_field: Some("ACCOUNTNO"),
        required: &["ACCOUNTNO", "TITLE"],
        fields: &[
            "ACCOUNTNO",
            "TITLE",
            "ACCOUNTTYPE",
            "NORMALBALANCE",
            "STATUS",
        ],
        reference_field: None,
        writable: true,
        catalog: fields::GLACCOUNT,
    },
    ObjectDef {
        name: "TAXDETAIL",
        id_field: Some("DETAILID"),
        required: &[],
        fields: &["DETAILID", "DESCRIPTION", "VALUE", "TAXTYPE", "STATUS"],
        reference_field: None,
        writable: false,
        catalog: fields::TAXDETAIL,
    },
    ObjectDef {
        name: "ARTERM",
        id_field: Some("NAME"),
        required: &["NAME"],
        fields: &["NAME", "DESCRIPTION", "DUEDAYS", "STATUS"],
        reference_field: None,
        writable: false,
        catalog: fields::ARTERM,
    },
    ObjectDef {
        name: "SODOCUMENTPARAMS",
        id_field: Some("DOCID"),
        required: &[],
        fields: &[
            "DOCID",
            "CATEGORY",
            "PREFIX",
            "POSTS_TO_AR",
            "INVENTORY_EFFECT",
            "CONVERT_FROM",
            "STATUS",
        ],
        reference_field: None,
        writable: false,
        catalog: fields::SODOCUMENTPARAMS,
    },
    ObjectDef {
        name: "SODOCUMENT",
        id_field: Some("DOCID"),
        required: &[],
        fields: &[
            "DOCID",
            "DOCNO",
            "DOCPARID",
            "STATE",
            "CUSTVENDID",
            "CUSTVENDNAME",
            "WHENDUE",
            "TERM.NAME",
            "PONUMBER",
            "REFERENCENO",
            "CUSTOMERPONUMBER",
            "MESSAGE",
            "SHIPVIA",
            "CURRENCY",
            "BASECURR",
            "EXCHRATETYPE",
            "SUBTOTAL",
            "TOTAL",
            "TRX_TOTAL",
            "PRRECORDKEY",
            "CREATEDFROM",
            "EXTERNALID",
            "PROJECTID",
            "SHIPTO",
            "BILLTO",
            "SODOCUMENTENTRIES",
            "SUBTOTALS",
        ],
        reference_field: Some("PONUMBER"),
        writable: false,
        catalog: fields::SODOCUMENT,
    },
    ObjectDef {
        name: "ARINVOICE",
        id_field: None,
        required: &[],
        fields: &[
            "RECORDID",
            "CUSTOMERID",
            "STATE",
            "TOTALENTERED",
            "TOTALDUE",
            "TOTALPAID",
            "WHENPOSTED",
            "WHENDUE",
            "DOCNUMBER",
            "CURRENCY",
        ],
        reference_field: Some("DOCNUMBER"),
        writable: false,
        catalog: fields::ARINVOICE,
    },
    ObjectDef {
        name: "ARADJUSTMENT",
        id_field: None,
        required: &[],
        fields: &[
            "RECORDID",
            "CUSTOMERID",
            "CUSTOMERNAME",
            "DESCRIPTION",
            "STATE",
            "WHENCREATED",
            "WHENPOSTED",
            "TOTALENTERED",
            "TOTALDUE",
            "TOTALPAID",
            "CURRENCY",
            "INVOICENO",
            "ITEMS",
        ],
        reference_field: Some("RECORDID"),
        writable: false,
        catalog: fields::ARADJUSTMENT,
    },
    ObjectDef {
        name: "ARPYMT",
        id_field: None,
        required: &["PAYMENTMETHOD", "RECEIPTDATE"],
        fields: &[
            "FINANCIALENTITY",
            "UNDEPOSITEDACCOUNTNO",
            "PAYMENTMETHOD",
            "CUSTOMERID",
            "PAYERNAME",
            "DOCNUMBER",
            "RECEIPTDATE",
            "PAYMENTDATE",
            "CURRENCY",
            "BASECURR",
            "AMOUNTTOPAY",
            "TRX_AMOUNTTOPAY",
            "STATE",
            "ARPYMTDETAILS",
        ],
        reference_field: Some("DOCNUMBER"),
        writable: true,
        catalog: fields::ARPYMT,
    },
    ObjectDef {
        name: "GLBATCH",
        id_field: None,
        required: &["JOURNAL", "BATCH_DATE", "BATCH_TITLE", "ENTRIES"],
        fields: &[
            "JOURNAL",
            "BATCH_DATE",
            "BATCH_TITLE",
            "REVERSEDATE",
            "REFERENCENO",
            "HISTORY_COMMENT",
            "SUPDOCID",
            "BASELOCATION_NO",
            "STATE",
            "ENTRIES",
        ],
        reference_field: Some("REFERENCENO"),
        writable: true,
        catalog: fields::GLBATCH,
    },
];

pub fn find(name: &str) -> Option<&'static ObjectDef> {
    OBJECTS
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(name.trim()))
}

impl ObjectDef {
    /// Is this a field of the object? Any field `lookup` lists is, and so is a
    /// dotted path into a group the simulator stores whose parts `lookup` does
    /// not list one by one (SODOCUMENT `SHIPTO.PRINTAS`). A dotted path into a
    /// group `lookup` does list (`DISPLAYCONTACT.NOPE`) is not, as in Intacct.
    pub fn has_field(&self, field: &str) -> bool {
        let upper = field.trim().to_ascii_uppercase();
        if SYSTEM_FIELDS.contains(&upper.as_str())
            || self.fields.contains(&upper.as_str())
            || self.catalog_field(&upper).is_some()
        {
            return true;
        }
        upper.split_once('.').is_some_and(|(head, _)| {
            let listed = self
                .catalog
                .iter()
                .any(|f| f.id.strip_prefix(head).is_some_and(|r| r.starts_with('.')));
            self.fields.contains(&head) && !listed
        })
    }

    fn catalog_field(&self, upper: &str) -> Option<&'static FieldDef> {
        self.catalog.iter().find(|f| f.id == upper)
    }

    /// The type `lookup` gives a field, for comparing its values; `None` for
    /// fields it does not list (those compare by the look of their values).
    pub fn field_type(&self, field: &str) -> Option<FieldType> {
        let upper = field.trim().to_ascii_uppercase();
        self.catalog_field(&upper)
            .map(|f| f.ty)
            .or(match upper.as_str() {
                "RECORDNO" => Some(FieldType::Integer),
                "WHENCREATED" | "WHENMODIFIED" => Some(FieldType::Timestamp),
                _ => None,
            })
    }

    /// Is the field one `create` must carry (as `lookup`'s REQUIRED shows it)?
    pub fn is_required(&self, field: &str) -> bool {
        self.writable && (self.required.contains(&field) || self.id_field == Some(field))
    }

    /// Every field, in the order `*` returns them.
    pub fn all_fields(&self) -> Vec<&'static str> {
        let mut v = vec!["RECORDNO"];
        v.extend_from_slice(self.fields);
        v.extend_from_slice(&["WHENCREATED", "WHENMODIFIED"]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_case_insensitively_with_their_fields() {
        let c = find("customer").unwrap();
        assert_eq!(c.id_field, Some("CUSTOMERID"));
        assert!(c.has_field("displaycontact.email1"));
        assert!(c.has_field("WHENMODIFIED"));
        assert!(!c.has_field("NOPE"));
        assert!(find("SODOCUMENT").unwrap().has_field("PONUMBER"));
    }
}
