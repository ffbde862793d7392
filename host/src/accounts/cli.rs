//! `hutong account …` and `hutong token …`: accounts and their API tokens.

use anyhow::Result;
use clap::Subcommand;

use crate::accounts::Role;
use crate::accounts::ops::DEFAULT_TOKEN_DAYS;
use crate::server::Opened;
use crate::{AccountRequest, PlatformError};

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create an account.
    Create {
        /// Id (a-z, 0-9, '-').
        id: String,
        /// platform-admin, district-admin, auditor, worker or resident.
        #[arg(long)]
        role: Role,
        /// The account's district (every role but platform-admin).
        #[arg(long)]
        district: Option<String>,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// The resident record of a resident account.
        #[arg(long)]
        resident: Option<String>,
        /// A grid a worker serves (repeatable).
        #[arg(long = "grid")]
        grids: Vec<String>,
        /// A phone number for SMS and voice notifications (workers).
        #[arg(long)]
        phone: Option<String>,
    },
    /// Set or clear an account's phone number for notifications.
    Phone {
        /// The account.
        id: String,
        /// The number (digits, optionally after `+`); clears it when absent.
        #[arg(long)]
        phone: Option<String>,
    },
    /// List accounts.
    List {
        /// Only this district.
        #[arg(long)]
        district: Option<String>,
    },
    /// Disable an account: its tokens and browser sessions stop working.
    Disable {
        /// The account.
        id: String,
    },
    /// Issue a one-time code with which the account's holder sets (or
    /// resets) their password at `/set-password`; printed once.
    PasswordCode {
        /// The account.
        id: String,
    },
    /// Sign the account out of every browser (its tokens stay).
    EndSessions {
        /// The account.
        id: String,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a token; it is printed once and never stored.
    Issue {
        /// The account it signs in as.
        #[arg(long)]
        account: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        label: String,
        /// Days until it expires (1 to 365).
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS)]
        days: u32,
    },
    /// List an account's tokens.
    List {
        /// The account.
        #[arg(long)]
        account: String,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The token's id (the part after `htk_`, before the secret).
        id: String,
    },
}

pub(crate) async fn account(opened: &Opened, command: AccountCommand) -> Result<()> {
    let platform = &opened.platform;
    match command {
        AccountCommand::Create {
            id,
            role,
            district,
            name,
            resident,
            grids,
            phone,
        } => {
            let a = platform
                .create_account(AccountRequest {
                    id,
                    role,
                    district,
                    display_name: name,
                    resident_id: resident,
                    grids,
                    phone,
                })
                .await?;
            println!(
                "created {} account {} ({}){}",
                a.role,
                a.id,
                a.display_name,
                a.district
                    .map(|d| format!(" in district {d}"))
                    .unwrap_or_default()
            );
        }
        AccountCommand::List { district } => {
            println!("ID\tROLE\tDISTRICT\tNAME\tSTATUS");
            for a in platform
                .store()
                .list_accounts(district.as_deref())
                .await
                .map_err(PlatformError::from)?
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    a.id,
                    a.role,
                    a.district.as_deref().unwrap_or("-"),
                    a.display_name,
                    if a.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    }
                );
            }
        }
        AccountCommand::Phone { id, phone } => {
            platform.set_account_phone(&id, phone.as_deref()).await?;
            match phone {
                Some(_) => println!("set the phone number of account {id}"),
                None => println!("cleared the phone number of account {id}"),
            }
        }
        AccountCommand::Disable { id } => {
            platform.disable_account(&id).await?;
            println!("disabled account {id}: its tokens and sessions no longer work");
        }
        AccountCommand::PasswordCode { id } => {
            let issued = platform.sign_in().issue_code(&id, "command line").await?;
            eprintln!(
                "set-password code for {id}, valid until {}; it is shown only now. \
                 The holder opens /set-password on the host and enters it:",
                crate::cases::format_ms(issued.expires_at)
            );
            println!("{}", issued.code);
        }
        AccountCommand::EndSessions { id } => {
            platform
                .store()
                .get_account(&id)
                .await
                .map_err(PlatformError::from)?;
            let ended = platform
                .sign_in()
                .end_sessions(&id, "revoked")
                .await
                .map_err(PlatformError::from)?;
            println!("ended {ended} browser session(s) of account {id}");
        }
    }
    Ok(())
}

pub(crate) async fn token(opened: &Opened, command: TokenCommand) -> Result<()> {
    let platform = &opened.platform;
    match command {
        TokenCommand::Issue {
            account,
            label,
            days,
        } => {
            let issued = platform.issue_token(&account, &label, days).await?;
            eprintln!(
                "token {} for {account}, valid {days} days; it is shown only now:",
                issued.record.id
            );
            println!("{}", issued.token);
        }
        TokenCommand::List { account } => {
            println!("ID\tLABEL\tEXPIRES_AT_MS\tSTATUS");
            let now = crate::kernel::clock::now_ms();
            for t in platform
                .store()
                .list_tokens(&account)
                .await
                .map_err(PlatformError::from)?
            {
                let status = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at <= now {
                    "expired"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{status}", t.id, t.label, t.expires_at);
            }
        }
        TokenCommand::Revoke { id } => {
            platform.revoke_token(&id).await?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}

/// One account per role in the demo district, each with a fresh token.
pub(crate) async fn demo_accounts(opened: &Opened) -> Result<Vec<(Role, String)>> {
    let platform = &opened.platform;
    let accounts = [
        (
            "demo-platform-admin",
            Role::PlatformAdmin,
            None,
            "平台管理员",
            vec![],
            None,
        ),
        (
            "demo-district-admin",
            Role::DistrictAdmin,
            Some("demo"),
            "区管理员",
            vec![],
            None,
        ),
        (
            "demo-auditor",
            Role::Auditor,
            Some("demo"),
            "审计员",
            vec![],
            None,
        ),
        (
            "demo-worker",
            Role::Worker,
            Some("demo"),
            "网格员 王丽",
            vec!["c-xingfu-g1".to_owned()],
            None,
        ),
        (
            "demo-resident",
            Role::Resident,
            Some("demo"),
            "居民 张三",
            vec![],
            Some("r-0001"),
        ),
    ];
    let mut tokens = Vec::new();
    for (id, role, district, name, grids, resident) in accounts {
        match platform
            .create_account(AccountRequest {
                id: id.to_owned(),
                role,
                district: district.map(str::to_owned),
                display_name: name.to_owned(),
                resident_id: resident.map(str::to_owned),
                grids,
                phone: None,
            })
            .await
        {
            Ok(_) | Err(PlatformError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        tokens.push((role, platform.issue_token(id, "demo", 7).await?.token));
    }
    Ok(tokens)
}
