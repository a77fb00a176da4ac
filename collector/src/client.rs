//! `candor sites ...` and `candor tokens ...`: thin clients of a running server's admin API.

use serde_json::{json, Value};

use crate::cli::{ServerArgs, SitesCommand, TokensCommand};

pub async fn sites(server: ServerArgs, command: SitesCommand) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    match command {
        SitesCommand::Add {
            domain,
            timezone,
            retention_days,
            allowed_origins,
        } => {
            let mut body = json!({"domain": domain});
            if let Some(tz) = timezone {
                body["timezone"] = json!(tz);
            }
            if let Some(days) = retention_days {
                body["retention_days"] = json!(days);
            }
            if !allowed_origins.is_empty() {
                body["allowed_origins"] = json!(allowed_origins);
            }
            let site = api
                .send(reqwest::Method::POST, "/api/v1/sites", Some(body))
                .await?;
            println!(
                "{}  timezone={}  retention_days={}",
                site["domain"].as_str().unwrap_or(""),
                site["timezone"].as_str().unwrap_or(""),
                site["retention_days"]
            );
        }
        SitesCommand::List => {
            let out = api
                .send(reqwest::Method::GET, "/api/v1/sites", None)
                .await?;
            for s in out["sites"].as_array().into_iter().flatten() {
                println!(
                    "{}  timezone={}  retention_days={}",
                    s["domain"].as_str().unwrap_or(""),
                    s["timezone"].as_str().unwrap_or(""),
                    s["retention_days"]
                );
            }
        }
    }
    Ok(())
}

pub async fn tokens(server: ServerArgs, command: TokensCommand) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    match command {
        TokensCommand::Create {
            name,
            scopes,
            sites,
        } => {
            let out = api
                .send(
                    reqwest::Method::POST,
                    "/api/v1/tokens",
                    Some(json!({"name": name, "scopes": scopes, "sites": sites})),
                )
                .await?;
            println!("id:    {}", out["id"].as_str().unwrap_or(""));
            println!("token: {}", out["token"].as_str().unwrap_or(""));
            eprintln!("(the token is shown only now; store it somewhere safe)");
        }
        TokensCommand::Revoke { id } => {
            api.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                None,
            )
            .await?;
            println!("revoked {id}");
        }
        TokensCommand::List => {
            let out = api
                .send(reqwest::Method::GET, "/api/v1/tokens", None)
                .await?;
            for t in out["tokens"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  scopes={}  sites={}",
                    t["id"].as_str().unwrap_or(""),
                    t["name"].as_str().unwrap_or(""),
                    t["scopes"],
                    t["sites"]
                );
            }
        }
    }
    Ok(())
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: ServerArgs) -> anyhow::Result<Api> {
        let token = server
            .token
            .or_else(|| std::env::var("CANDOR_ADMIN_TOKEN").ok())
            .ok_or_else(|| anyhow::anyhow!("no admin token: pass --token or set CANDOR_TOKEN"))?;
        Ok(Api {
            http: reqwest::Client::new(),
            base: server.server.trim_end_matches('/').to_string(),
            token,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let msg = value["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            anyhow::bail!("{status}: {msg}");
        }
        Ok(value)
    }
}
