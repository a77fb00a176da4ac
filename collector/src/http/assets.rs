//! Files embedded into the binary at build time (the snippet, the dashboard), served with an
//! ETag so browsers revalidate cheaply.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

pub struct Asset {
    pub body: &'static [u8],
    pub etag: String,
}

/// Indexes embedded `(name, bytes)` pairs by name, with a content hash as ETag.
pub fn index(files: &'static [(&'static str, &'static [u8])]) -> HashMap<&'static str, Asset> {
    files
        .iter()
        .map(|(name, body)| {
            let digest = ring::digest::digest(&ring::digest::SHA256, body);
            (
                *name,
                Asset {
                    body,
                    etag: format!("\"{}\"", hex::encode(&digest.as_ref()[..12])),
                },
            )
        })
        .collect()
}

/// 304 when the browser's copy is current, else 200; `headers` adds caching and the rest.
pub fn respond(
    req: &HttpRequest,
    asset: &Asset,
    content_type: &str,
    headers: impl FnOnce(&mut HttpResponseBuilder),
) -> HttpResponse {
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut resp = if cached {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, asset.etag.clone()));
    headers(&mut resp);
    if cached {
        return resp.finish();
    }
    resp.content_type(content_type).body(asset.body)
}
