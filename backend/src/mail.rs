//! Mail to users: invitations, password resets, plan warnings. Each is plain
//! text with a simple HTML alternative, both from askama templates. With
//! `CONNECT_SMTP_URL` set it goes out over SMTP (lettre, rustls); without it,
//! it is kept in the `outbox` table, which operators read at `/admin/outbox`
//! (and tests through `GET /api/v1/admin/outbox`), so the embedded default
//! works with nothing else installed.

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::db::{Db, now_ms};
use crate::ids::new_id;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("could not build the mail: {0}")]
    Build(String),
    #[error("the SMTP server refused or could not be reached: {0}")]
    Smtp(String),
    #[error("could not render the mail: {0}")]
    Render(#[from] askama::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// One mail, rendered.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The tenant it concerns, for the outbox; `None` for operators' mail.
    pub tenant_id: Option<String>,
}

impl Mail {
    /// Renders a mail from its text and HTML templates.
    pub fn render(
        to: &str,
        subject: impl Into<String>,
        text: &impl Template,
        html: &impl Template,
        tenant_id: Option<&str>,
    ) -> Result<Self, MailError> {
        Ok(Mail {
            to: to.to_owned(),
            subject: subject.into(),
            text: text.render()?,
            html: html.render()?,
            tenant_id: tenant_id.map(str::to_owned),
        })
    }
}

pub enum Mailer {
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
    Outbox {
        db: Db,
    },
}

impl Mailer {
    /// From the configuration, read once at start.
    pub fn new(
        db: Db,
        smtp_url: Option<&secrecy::SecretString>,
        from: &str,
    ) -> Result<Self, MailError> {
        let Some(url) = smtp_url else {
            return Ok(Mailer::Outbox { db });
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| MailError::Config(format!("CONNECT_SMTP_URL: {e}")))?
            .build();
        let transport = Box::new(transport);
        let from = from
            .parse()
            .map_err(|e| MailError::Config(format!("CONNECT_MAIL_FROM: {e}")))?;
        Ok(Mailer::Smtp { transport, from })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Mailer::Smtp { .. } => "smtp",
            Mailer::Outbox { .. } => "outbox",
        }
    }

    /// Sends the mail, or keeps it in the outbox.
    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        match self {
            Mailer::Outbox { db } => {
                sqlx::query(
                    "INSERT INTO outbox (id, tenant_id, to_address, subject, text_body, html_body, created_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7)",
                )
                .bind(new_id("mail"))
                .bind(&mail.tenant_id)
                .bind(&mail.to)
                .bind(&mail.subject)
                .bind(&mail.text)
                .bind(&mail.html)
                .bind(now_ms())
                .execute(db.pool())
                .await?;
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = mail
                    .to
                    .parse()
                    .map_err(|e| MailError::Build(format!("{}: {e}", mail.to)))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(mail.subject)
                    .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
                    .map_err(|e| MailError::Build(e.to_string()))?;
                transport
                    .send(message)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                Ok(())
            }
        }
    }
}

/// A mail kept because no SMTP server is configured.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub tenant_id: Option<String>,
    pub created_at: i64,
}

/// The outbox, newest first.
pub async fn outbox(db: &Db, limit: i64) -> Result<Vec<OutboxMail>, sqlx::Error> {
    type Row = (String, String, String, String, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT to_address, subject, text_body, html_body, tenant_id, created_at FROM outbox \
         ORDER BY created_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxMail {
            to: r.0,
            subject: r.1,
            text: r.2,
            html: r.3,
            tenant_id: r.4,
            created_at: r.5,
        })
        .collect())
}

/// "You are invited": the link to choose a password and join.
pub struct Invitation<'a> {
    pub inviter: &'a str,
    pub company: &'a str,
    pub role: &'a str,
    pub link: &'a str,
    pub expires: &'a str,
}

/// "Reset your password": the link to choose a new one.
pub struct Reset<'a> {
    pub email: &'a str,
    pub link: &'a str,
}

/// "You've used 80 % of your plan": to the owner, once per threshold and period.
pub struct UsageWarning<'a> {
    pub headline: &'a str,
    pub company: &'a str,
    pub used: i64,
    pub period: &'a str,
    pub plan: &'a str,
    pub included: i64,
    pub detail: &'a str,
    pub link: &'a str,
}

/// A mail's text and HTML bodies, rendered from `mail/<name>.txt` and
/// `mail/<name>.html` over the same facts `m`.
macro_rules! bodies {
    ($facts:ident, $text:ident, $html:ident, $txt_path:literal, $html_path:literal) => {
        #[derive(Template)]
        #[template(path = $txt_path)]
        pub struct $text<'a> {
            pub m: &'a $facts<'a>,
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        pub struct $html<'a> {
            pub m: &'a $facts<'a>,
        }
    };
}

bodies!(
    Invitation,
    InviteText,
    InviteHtml,
    "mail/invite.txt",
    "mail/invite.html"
);
bodies!(
    Reset,
    ResetText,
    ResetHtml,
    "mail/reset.txt",
    "mail/reset.html"
);
bodies!(
    UsageWarning,
    UsageText,
    UsageHtml,
    "mail/usage.txt",
    "mail/usage.html"
);

impl Mail {
    pub fn invitation(
        to: &str,
        subject: String,
        m: &Invitation<'_>,
        tenant_id: &str,
    ) -> Result<Self, MailError> {
        Self::render(
            to,
            subject,
            &InviteText { m },
            &InviteHtml { m },
            Some(tenant_id),
        )
    }

    pub fn reset(m: &Reset<'_>, tenant_id: Option<&str>) -> Result<Self, MailError> {
        Self::render(
            m.email,
            "Reset your Clarity Connect password",
            &ResetText { m },
            &ResetHtml { m },
            tenant_id,
        )
    }

    pub fn usage_warning(
        to: &str,
        subject: String,
        m: &UsageWarning<'_>,
        tenant_id: &str,
    ) -> Result<Self, MailError> {
        Self::render(
            to,
            subject,
            &UsageText { m },
            &UsageHtml { m },
            Some(tenant_id),
        )
    }
}
