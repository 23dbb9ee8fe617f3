//! The objects the simulated company holds: their id fields, required fields and
//! the fields a query may name (spec §6).

/// How one object type behaves in the generic functions.
#[derive(Debug)]
pub struct ObjectDef {
    /// Upper-case object name, as in `<object>CUSTOMER</object>`.
    pub name: &'static str,
    /// The business id field (`CUSTOMERID`); `None` when records are known by RECORDNO only.
    pub id_field: Option<&'static str>,
    /// Fields a generic `create` must carry (dotted for nested ones).
    pub required: &'static [&'static str],
    /// Top-level fields, in the order `*` returns them. RECORDNO, WHENCREATED and
    /// WHENMODIFIED are always there.
    pub fields: &'static [&'static str],
    /// The field stored in the `reference` column for look-ups.
    pub reference_field: Option<&'static str>,
    /// Can the generic create/update/delete change it?
    pub writable: bool,
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
    },
    ObjectDef {
        name: "ITEMWAREHOUSEINFO",
        id_field: None,
        required: &[],
        fields: &["ITEMID", "WAREHOUSEID", "ONHAND", "ONORDER", "ONHOLD"],
        reference_field: None,
        writable: false,
    },
    ObjectDef {
        name: "WAREHOUSE",
        id_field: Some("WAREHOUSEID"),
        required: &["WAREHOUSEID", "NAME"],
        fields: &["WAREHOUSEID", "NAME", "LOCATIONID", "STATUS"],
        reference_field: None,
        writable: true,
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
    },
    ObjectDef {
        name: "DEPARTMENT",
        id_field: Some("DEPARTMENTID"),
        required: &["DEPARTMENTID", "TITLE"],
        fields: &["DEPARTMENTID", "TITLE", "PARENTID", "STATUS"],
        reference_field: None,
        writable: true,
    },
    ObjectDef {
        name: "CLASS",
        id_field: Some("CLASSID"),
        required: &["CLASSID", "NAME"],
        fields: &["CLASSID", "NAME", "PARENTID", "STATUS"],
        reference_field: None,
        writable: true,
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
    },
    ObjectDef {
        name: "TAXDETAIL",
        id_field: Some("DETAILID"),
        required: &[],
        fields: &["DETAILID", "DESCRIPTION", "VALUE", "TAXTYPE", "STATUS"],
        reference_field: None,
        writable: false,
    },
    ObjectDef {
        name: "ARTERM",
        id_field: Some("NAME"),
        required: &["NAME"],
        fields: &["NAME", "DESCRIPTION", "DUEDAYS", "STATUS"],
        reference_field: None,
        writable: false,
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
    },
];

pub fn find(name: &str) -> Option<&'static ObjectDef> {
    OBJECTS
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(name.trim()))
}

impl ObjectDef {
    /// Is this a field of the object (or a dotted path into one of its fields)?
    pub fn has_field(&self, field: &str) -> bool {
        let upper = field.trim().to_ascii_uppercase();
        if SYSTEM_FIELDS.contains(&upper.as_str()) || self.fields.contains(&upper.as_str()) {
            return true;
        }
        // DISPLAYCONTACT.EMAIL1: the first part must be a field.
        upper
            .split_once('.')
            .is_some_and(|(head, _)| self.fields.contains(&head))
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
