//! The onboarding wizard's progress: which step a tenant is on, the path it
//! chose (try the sandbox, or connect its own systems), the pair it set up.
//! Saved at each step, so a user can leave and continue; the dashboard
//! shows "Continue setup" until the last step is done.

use crate::db::{Db, now_ms};

/// The wizard's steps, in order.
pub const STEPS: [&str; 6] = ["company", "start", "clarity", "erp", "flows", "live"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub step: String,
    /// `sandbox` or `connect`, once chosen.
    pub path: Option<String>,
    pub erp: Option<String>,
    pub pair_id: Option<String>,
    pub completed_at: Option<i64>,
}

impl Progress {
    pub fn index(&self) -> usize {
        STEPS.iter().position(|s| *s == self.step).unwrap_or(0)
    }

    pub fn done(&self) -> bool {
        self.completed_at.is_some()
    }
}

type Row = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// The tenant's progress; a tenant that never opened the wizard is at its start.
pub async fn get(db: &Db, tenant_id: &str) -> Result<Progress, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT step, path, erp, pair_id, completed_at FROM onboarding WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some((step, path, erp, pair_id, completed_at)) => Progress {
            step,
            path,
            erp,
            pair_id,
            completed_at,
        },
        None => Progress {
            step: STEPS[0].to_owned(),
            path: None,
            erp: None,
            pair_id: None,
            completed_at: None,
        },
    })
}

/// Saves the progress (the step reached and what was chosen on the way).
pub async fn save(db: &Db, tenant_id: &str, p: &Progress) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO onboarding (tenant_id, step, path, erp, pair_id, completed_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (tenant_id) DO UPDATE SET step = excluded.step, \
         path = excluded.path, erp = excluded.erp, pair_id = excluded.pair_id, \
         completed_at = excluded.completed_at, updated_at = excluded.updated_at",
    )
    .bind(tenant_id)
    .bind(&p.step)
    .bind(&p.path)
    .bind(&p.erp)
    .bind(&p.pair_id)
    .bind(p.completed_at)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_steps_count_as_the_first() {
        let p = Progress {
            step: "nonsense".into(),
            path: None,
            erp: None,
            pair_id: None,
            completed_at: None,
        };
        assert_eq!(p.index(), 0);
        assert!(!p.done());
    }
}
