//! Sign-in and sign-up throttling, kept in the database (`login_attempts`) so
//! every web process sees the same counts.
//!
//! Sign-in is throttled so that it cannot be turned into a lockout. Blocking
//! an account after N failures from anywhere would let anyone keep its owner
//! out by typing wrong passwords for it, so failures are judged in three
//! tallies over a 15-minute window, and only the first two ever refuse:
//!
//! - per (account, address): the first [`PAIR_FREE`] failures are free, then
//!   that address must wait 1 s, 2 s, 4 s … (capped at
//!   [`PAIR_BACKOFF_CAP_MS`]) after its last failure before trying that
//!   account again. An attacker's address slows itself, nobody else;
//! - per address, every account: [`MAX_PER_ADDRESS`] failures refuse the
//!   address until the oldest ages out (password spraying from one place);
//! - per account, every address: past [`ACCOUNT_CEILING`] failures the
//!   account is under attack. That does not refuse anyone; it *slows* every
//!   attempt on the account (a server-side pause before the password is
//!   checked, growing to at most [`ACCOUNT_SLOWDOWN_CAP_MS`]) and leaves each
//!   address only [`PAIR_FREE_UNDER_ATTACK`] free failure before its own
//!   backoff starts, so a distributed guesser gets about one guess per
//!   address, each slowed.
//!
//! So while an account is under attack, its owner signing in from an address
//! with no recent failures for it is never refused: the right password
//! succeeds after a pause of at most a few seconds. A success clears that
//! address's failures for the account, not the account's tally (clearing it
//! would hand the attacker a fresh ceiling).
//!
//! Sign-up is throttled per address: at most the configured number of
//! accounts an hour (`CONNECT_SIGNUPS_PER_HOUR`).
//!
//! The policy itself ([`judge`]) is a plain function of the tallies and the
//! time, tested without a database.

use std::time::Duration;

use crate::db::{Db, now_ms};

/// The sign-in window: failures older than this are forgotten.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failures one address may make for one account before its backoff starts.
pub const PAIR_FREE: i64 = 5;
/// The same while the account is under attack.
pub const PAIR_FREE_UNDER_ATTACK: i64 = 1;
/// The longest an address waits between attempts on one account.
pub const PAIR_BACKOFF_CAP_MS: i64 = 5 * 60 * 1000;
/// Failures on one account, from anywhere, that put it under attack.
pub const ACCOUNT_CEILING: i64 = 20;
/// The pause under attack starts here and doubles every 10 more failures …
pub const ACCOUNT_SLOWDOWN_BASE_MS: u64 = 500;
/// … up to this.
pub const ACCOUNT_SLOWDOWN_CAP_MS: u64 = 3_000;
/// Failures from one address, any account, before the address is refused.
pub const MAX_PER_ADDRESS: i64 = 30;
/// The sign-up window.
pub const SIGNUP_WINDOW_MS: i64 = 60 * 60 * 1000;

/// Attempts of one kind within the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: i64,
    /// When the oldest and the newest counted attempt were made (ms).
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

/// The failures that bear on one sign-in: this account from this address,
/// this account from anywhere, this address for any account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub pair: Tally,
    pub account: Tally,
    pub address: Tally,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead, after pausing this long (zero unless the account is under attack).
    Allow { pause: Duration },
    /// Refused: try again in this many seconds (at least 1).
    Wait { seconds: u64 },
}

/// The sign-in policy described in the module doc.
pub fn judge(f: &Failures, now: i64) -> Verdict {
    if f.address.count >= MAX_PER_ADDRESS {
        let until = f.address.oldest.unwrap_or(now) + WINDOW_MS;
        return Verdict::Wait {
            seconds: seconds_until(until, now),
        };
    }
    let under_attack = f.account.count >= ACCOUNT_CEILING;
    let free = if under_attack {
        PAIR_FREE_UNDER_ATTACK
    } else {
        PAIR_FREE
    };
    if f.pair.count >= free {
        let over = (f.pair.count - free).min(32) as u32;
        let backoff = 1000i64
            .saturating_mul(2i64.saturating_pow(over))
            .min(PAIR_BACKOFF_CAP_MS);
        let until = f.pair.newest.unwrap_or(now) + backoff;
        if until > now {
            return Verdict::Wait {
                seconds: seconds_until(until, now),
            };
        }
    }
    let pause = if under_attack {
        let doublings = ((f.account.count - ACCOUNT_CEILING) / 10).min(16) as u32;
        Duration::from_millis(
            ACCOUNT_SLOWDOWN_BASE_MS
                .saturating_mul(1 << doublings)
                .min(ACCOUNT_SLOWDOWN_CAP_MS),
        )
    } else {
        Duration::ZERO
    };
    Verdict::Allow { pause }
}

/// Sign-ups from one address in the last hour against the allowance:
/// seconds to wait, or `None` when another is allowed.
pub fn judge_signup(recent: &Tally, per_hour: u32, now: i64) -> Option<u64> {
    if recent.count < i64::from(per_hour) {
        return None;
    }
    let until = recent.oldest.unwrap_or(now) + SIGNUP_WINDOW_MS;
    Some(seconds_until(until, now))
}

fn seconds_until(until: i64, now: i64) -> u64 {
    // Rounded up, so a client that waits exactly this long is let in.
    ((until - now).max(1000) as u64).div_ceil(1000)
}

/// "8 s", "5 min": when to retry, in words a person reads.
pub fn in_words(seconds: u64) -> String {
    if seconds < 120 {
        format!("{seconds} s")
    } else {
        format!("{} min", seconds.div_ceil(60))
    }
}

/// The message of a refused sign-in, for the API and the sign-in page alike.
pub fn sign_in_wait_message(seconds: u64) -> String {
    format!(
        "Too many sign-in attempts; try again in {}",
        in_words(seconds)
    )
}

/// The message of a refused sign-up.
pub fn sign_up_wait_message(seconds: u64) -> String {
    format!(
        "Too many sign-ups from this address; try again in {}",
        in_words(seconds)
    )
}

fn pair_subject(email_lower: &str, address: &str) -> String {
    // The address first: it has no spaces, so the two parts cannot blur.
    format!("pair:{address} {email_lower}")
}

fn account_subject(email_lower: &str) -> String {
    format!("account:{email_lower}")
}

fn address_subject(address: &str) -> String {
    format!("address:{address}")
}

fn signup_subject(address: &str) -> String {
    format!("signup:{address}")
}

async fn tallies(db: &Db, subjects: &[&str], since: i64) -> Result<Vec<Tally>, sqlx::Error> {
    let mut out = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let (count, oldest, newest): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at), MAX(at) FROM login_attempts WHERE subject = $1 AND at > $2",
        )
        .bind(*subject)
        .bind(since)
        .fetch_one(db.pool())
        .await?;
        out.push(Tally {
            count,
            oldest,
            newest,
        });
    }
    Ok(out)
}

/// Decides whether this sign-in may go ahead. When it may, the pause the
/// policy asks for has already been waited; when not, the seconds to wait.
pub async fn admit(db: &Db, email_lower: &str, address: &str) -> Result<Option<u64>, sqlx::Error> {
    let now = now_ms();
    let pair = pair_subject(email_lower, address);
    let account = account_subject(email_lower);
    let addr = address_subject(address);
    let t = tallies(db, &[&pair, &account, &addr], now - WINDOW_MS).await?;
    let failures = Failures {
        pair: t[0],
        account: t[1],
        address: t[2],
    };
    match judge(&failures, now) {
        Verdict::Wait { seconds } => Ok(Some(seconds)),
        Verdict::Allow { pause } => {
            if !pause.is_zero() {
                tracing::info!(
                    failures = failures.account.count,
                    "sign-in slowed: the account is under attack"
                );
                tokio::time::sleep(pause).await;
            }
            Ok(None)
        }
    }
}

pub async fn record_failure(db: &Db, email_lower: &str, address: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for subject in [
        pair_subject(email_lower, address),
        account_subject(email_lower),
        address_subject(address),
    ] {
        insert(db, &subject, now).await?;
    }
    trim(db, now).await
}

/// A successful sign-in clears this address's failures for the account;
/// the account's and the address's tallies stay.
pub async fn record_success(db: &Db, email_lower: &str, address: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_attempts WHERE subject = $1")
        .bind(pair_subject(email_lower, address))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Seconds this address must wait before signing up again, or `None`.
pub async fn check_signup(
    db: &Db,
    address: &str,
    per_hour: u32,
) -> Result<Option<u64>, sqlx::Error> {
    let now = now_ms();
    let subject = signup_subject(address);
    let t = tallies(db, &[&subject], now - SIGNUP_WINDOW_MS).await?;
    Ok(judge_signup(&t[0], per_hour, now))
}

/// Counts a sign-up that reached the database (made, or refused as a taken
/// email: both cost a password hash, and the second probes for accounts).
pub async fn record_signup(db: &Db, address: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    insert(db, &signup_subject(address), now).await?;
    trim(db, now).await
}

async fn insert(db: &Db, subject: &str, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO login_attempts (subject, at) VALUES ($1, $2)")
        .bind(subject)
        .bind(at)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Rows older than the longest window are of no use; trim them while here.
async fn trim(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_attempts WHERE at < $1")
        .bind(now - WINDOW_MS.max(SIGNUP_WINDOW_MS))
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 10_000_000_000;

    fn tally(count: i64, oldest_ago_ms: i64, newest_ago_ms: i64) -> Tally {
        Tally {
            count,
            oldest: Some(NOW - oldest_ago_ms),
            newest: Some(NOW - newest_ago_ms),
        }
    }

    fn allowed(v: Verdict) -> Duration {
        match v {
            Verdict::Allow { pause } => pause,
            Verdict::Wait { seconds } => panic!("refused for {seconds} s"),
        }
    }

    fn refused(v: Verdict) -> u64 {
        match v {
            Verdict::Wait { seconds } => seconds,
            Verdict::Allow { pause } => panic!("allowed after {pause:?}"),
        }
    }

    #[test]
    fn the_first_five_failures_from_an_address_are_free() {
        let f = Failures {
            pair: tally(4, 60_000, 0),
            account: tally(4, 60_000, 0),
            address: tally(4, 60_000, 0),
        };
        assert_eq!(allowed(judge(&f, NOW)), Duration::ZERO);
    }

    #[test]
    fn after_five_failures_an_address_backs_off_exponentially_from_its_last_failure() {
        let at = |count: i64, since_last: i64| {
            judge(
                &Failures {
                    pair: tally(count, 600_000, since_last),
                    account: tally(count, 600_000, since_last),
                    address: tally(count, 600_000, since_last),
                },
                NOW,
            )
        };
        assert_eq!(refused(at(5, 0)), 1);
        assert_eq!(refused(at(6, 0)), 2);
        assert_eq!(refused(at(8, 0)), 8);
        assert_eq!(
            refused(at(8, 3_000)),
            5,
            "the wait runs from the last failure"
        );
        allowed(at(8, 8_000));
        assert_eq!(
            refused(at(25, 0)),
            (PAIR_BACKOFF_CAP_MS / 1000) as u64,
            "capped"
        );
    }

    #[test]
    fn an_account_under_attack_from_elsewhere_slows_a_clean_address_but_never_refuses_it() {
        for attacks in [ACCOUNT_CEILING, 45, 10_000] {
            let f = Failures {
                pair: Tally::default(),
                account: tally(attacks, 800_000, 0),
                address: Tally::default(),
            };
            let pause = allowed(judge(&f, NOW));
            assert!(pause > Duration::ZERO, "{attacks} failures slow sign-in");
            assert!(
                pause <= Duration::from_millis(ACCOUNT_SLOWDOWN_CAP_MS),
                "{attacks} failures pause {pause:?}"
            );
        }
        let below = Failures {
            account: tally(ACCOUNT_CEILING - 1, 800_000, 0),
            ..Failures::default()
        };
        assert_eq!(allowed(judge(&below, NOW)), Duration::ZERO);
    }

    #[test]
    fn the_pause_grows_with_the_attack() {
        let pause = |n| {
            allowed(judge(
                &Failures {
                    account: tally(n, 800_000, 0),
                    ..Failures::default()
                },
                NOW,
            ))
        };
        assert!(pause(ACCOUNT_CEILING) < pause(ACCOUNT_CEILING + 10));
        assert!(pause(ACCOUNT_CEILING + 10) < pause(ACCOUNT_CEILING + 20));
    }

    #[test]
    fn under_attack_an_attacking_address_backs_off_after_one_failure() {
        let f = Failures {
            pair: tally(1, 1_000, 0),
            account: tally(ACCOUNT_CEILING, 800_000, 0),
            address: tally(1, 1_000, 0),
        };
        assert_eq!(refused(judge(&f, NOW)), 1);
        let f = Failures {
            pair: tally(4, 10_000, 0),
            ..f
        };
        assert_eq!(refused(judge(&f, NOW)), 8);
    }

    #[test]
    fn an_address_failing_across_many_accounts_is_refused_until_its_oldest_failure_ages_out() {
        let f = Failures {
            pair: tally(1, 0, 0),
            account: tally(1, 0, 0),
            address: tally(MAX_PER_ADDRESS, WINDOW_MS - 90_000, 0),
        };
        assert_eq!(refused(judge(&f, NOW)), 90);
    }

    #[test]
    fn sign_ups_past_the_hourly_allowance_wait_for_the_oldest_to_age_out() {
        assert_eq!(judge_signup(&tally(9, 600_000, 0), 10, NOW), None);
        assert_eq!(
            judge_signup(&tally(10, 600_000, 0), 10, NOW),
            Some(((SIGNUP_WINDOW_MS - 600_000) / 1000) as u64)
        );
    }

    #[test]
    fn wait_messages_say_when_to_retry() {
        assert_eq!(
            sign_in_wait_message(8),
            "Too many sign-in attempts; try again in 8 s"
        );
        assert_eq!(in_words(119), "119 s");
        assert_eq!(in_words(121), "3 min");
    }
}
