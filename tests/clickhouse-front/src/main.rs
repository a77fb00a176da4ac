//! TEST-ONLY. A server that speaks the part of ClickHouse's HTTP interface the `clickhouse`
//! crate uses and executes every statement on chDB. It lets CI run Candor's server engine
//! (the real `clickhouse` crate, its LZ4 framing, RowBinary in and out) without a ClickHouse
//! server. It is never part of the product.
//!
//! Spoken here: the query in the URL (`query=`) or in the body, multipart bodies with
//! `param_*` fields, `param_*` in the URL, `database`, `default_format`, other URL pairs as
//! settings, `decompress=1` request bodies in ClickHouse's native compressed framing
//! (CityHash128 checksum, 0x82 LZ4 blocks), `Accept-Encoding: lz4` responses (LZ4 frames),
//! and errors as
//! ClickHouse sends them (`X-ClickHouse-Exception-Code` and the `Code: N. DB::Exception` text).

mod framing;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use candor::store::{ChdbConnection, Params, StoreError};
use clap::Parser;
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    /// Address to listen on; port 0 picks a free one. The bound address is printed first.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// chDB storage directory.
    #[arg(long)]
    data: PathBuf,
    /// Path of libchdb.so.
    #[arg(long)]
    libchdb: PathBuf,
    /// Refuse inserts in the Native format as a ClickHouse server that cannot convert a
    /// block's column types does (`TYPE_MISMATCH`), for the batcher's row-wise fallback.
    #[arg(long)]
    refuse_native: bool,
}

/// URL pairs that are not settings.
const NOT_SETTINGS: &[&str] = &[
    "query",
    "database",
    "default_format",
    "decompress",
    "compress",
    "query_id",
    "session_id",
    "user",
    "password",
    "enable_http_compression",
    "wait_end_of_query",
];

struct Front {
    libchdb: PathBuf,
    data: PathBuf,
    /// One connection per (database, settings): chDB settings are per connection.
    connections: Mutex<HashMap<String, Arc<ChdbConnection>>>,
    refuse_native: bool,
}

impl Front {
    async fn connection(
        &self,
        database: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<Arc<ChdbConnection>, StoreError> {
        let key = format!("{database}|{settings:?}");
        let mut conns = self.connections.lock().await;
        if let Some(c) = conns.get(&key) {
            return Ok(c.clone());
        }
        let mut args: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // As a server configured with `<backups><allowed_path>` (deploy/clickhouse): BACKUP and
        // RESTORE to files, which `candor backup` / `candor restore` run.
        args.push(("backups.allowed_path".into(), "/".into()));
        let init = if database == "default" {
            Vec::new()
        } else {
            vec![(
                "USE {db:Identifier}".to_string(),
                Params::new().with("db", database),
            )]
        };
        let conn = ChdbConnection::open_with_init(&self.libchdb, &self.data, "front", &args, init)?;
        let conn = Arc::new(conn);
        conns.insert(key, conn.clone());
        Ok(conn)
    }
}

struct Request {
    sql: String,
    data: Option<Bytes>,
    params: Params,
    settings: BTreeMap<String, String>,
    database: String,
    format: String,
}

async fn handle(front: web::Data<Front>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let parsed = match parse(&req, body).await {
        Ok(p) => p,
        Err(msg) => {
            return error_response(StoreError::from_engine_message(&format!(
                "Code: 27. DB::Exception: {msg}. (CANNOT_PARSE_INPUT)"
            )))
        }
    };
    let lz4 = req
        .headers()
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("lz4")));
    let result = async {
        let conn = front.connection(&parsed.database, &parsed.settings).await?;
        match parsed.data {
            Some(data) => {
                let (statement, format) = split_insert_format(&parsed.sql).ok_or_else(|| {
                    StoreError::from_engine_message("Code: 62. DB::Exception: data sent without an INSERT ... FORMAT statement. (SYNTAX_ERROR)")
                })?;
                if front.refuse_native && format.eq_ignore_ascii_case("Native") {
                    return Err(StoreError::from_engine_message("Code: 53. DB::Exception: Type mismatch for column site: String is not LowCardinality(String). (TYPE_MISMATCH)"));
                }
                conn.insert(statement, &format, data).await.map(|_| Bytes::new())
            }
            None => conn.query(&parsed.sql, &parsed.params, &parsed.format).await,
        }
    }
    .await;
    match result {
        Ok(out) => {
            let mut resp = HttpResponse::Ok();
            resp.insert_header(("X-ClickHouse-Format", parsed.format.as_str()));
            if lz4 {
                resp.insert_header(("Content-Encoding", "lz4"));
                resp.body(framing::encode_response(&out))
            } else {
                resp.body(out)
            }
        }
        Err(e) => error_response(e),
    }
}

async fn parse(req: &HttpRequest, body: web::Bytes) -> Result<Request, String> {
    let mut url_query = None;
    let mut params = Params::new();
    let mut settings = BTreeMap::new();
    let mut database = "default".to_string();
    let mut format = "TabSeparated".to_string();
    let mut decompress = false;
    let pairs: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|e| format!("bad URL: {e}"))?
            .into_inner();
    for (k, v) in pairs {
        if let Some(name) = k.strip_prefix("param_") {
            params.push_raw(name, v);
            continue;
        }
        match k.as_str() {
            "query" => url_query = Some(v),
            "database" => database = v,
            "default_format" => format = v,
            "decompress" => decompress = v == "1",
            k if NOT_SETTINGS.contains(&k) => {}
            _ => {
                settings.insert(k, v);
            }
        }
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = if decompress {
        framing::decode(&body)?
    } else {
        body
    };
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type).map_err(|e| e.to_string())?;
        let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut form = multer::Multipart::new(stream, boundary);
        let mut sql = None;
        while let Some(field) = form.next_field().await.map_err(|e| e.to_string())? {
            let name = field.name().unwrap_or("").to_string();
            let value = field.text().await.map_err(|e| e.to_string())?;
            if name == "query" {
                sql = Some(value);
            } else if let Some(p) = name.strip_prefix("param_") {
                params.push_raw(p, value);
            }
        }
        let sql = match (url_query, sql) {
            (Some(u), Some(b)) => format!("{u} {b}"),
            (u, b) => u.or(b).ok_or("no query")?,
        };
        return Ok(Request {
            sql,
            data: None,
            params,
            settings,
            database,
            format,
        });
    }
    let (sql, data) = match url_query {
        // Query in the URL: a body, if any, is INSERT data.
        Some(q) if !body.is_empty() => (q, Some(body)),
        Some(q) => (q, None),
        None => (
            String::from_utf8(body.to_vec()).map_err(|_| "query is not UTF-8")?,
            None,
        ),
    };
    Ok(Request {
        sql,
        data,
        params,
        settings,
        database,
        format,
    })
}

/// `INSERT INTO t (a, b) FORMAT RowBinary` → (`INSERT INTO t (a, b)`, `RowBinary`).
fn split_insert_format(sql: &str) -> Option<(String, String)> {
    let trimmed = sql.trim();
    if !trimmed.get(..6)?.eq_ignore_ascii_case("insert") {
        return None;
    }
    let upper = trimmed.to_ascii_uppercase();
    let at = upper.rfind("FORMAT ")?;
    let format = trimmed[at + 7..].trim().to_string();
    Some((trimmed[..at].trim().to_string(), format))
}

fn error_response(e: StoreError) -> HttpResponse {
    let code = e.code().unwrap_or(1000);
    let status = match code {
        62 => StatusCode::BAD_REQUEST,
        60 | 81 => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let text = match &e {
        StoreError::Query { message, .. } => message.clone(),
        other => format!("Code: 1000. DB::Exception: {other}. (STD_EXCEPTION)"),
    };
    HttpResponse::build(status)
        .insert_header(("X-ClickHouse-Exception-Code", code.to_string()))
        .body(format!("{text}\n"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data)?;
    let front = web::Data::new(Front {
        libchdb: args.libchdb,
        data: args.data,
        connections: Mutex::new(HashMap::new()),
        refuse_native: args.refuse_native,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(front.clone())
            .app_data(web::PayloadConfig::new(256 * 1024 * 1024))
            .default_service(web::to(handle))
    })
    .workers(2)
    .bind(&args.listen)?;
    for addr in server.addrs() {
        println!("listening on {addr}");
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    server.run().await
}
