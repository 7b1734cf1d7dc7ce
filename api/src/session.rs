//! Browser sessions for the pages people look at (the local outbox, the console): the API
//! key, entered once on `/login`, becomes a cookie — `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page or form carries it, which is what keeps the
//! forms behind it safe from cross-site requests), `Path=/`, 12 hours — holding its
//! expiry signed with a key derived from the API key (HMAC-SHA256, as unsubscribe
//! tokens are). Changing the API key ends every session.

use std::sync::Arc;

use axum::extract::{Form, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use kairos_core::unsubscribe::Signer;
use serde::Deserialize;

use crate::auth::is_key;
use crate::error::ApiError;
use crate::html::escape;

const COOKIE: &str = "kairos_session";
const LIFETIME_HOURS: i64 = 12;

/// Issues and checks sessions for one API key.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    api_key: String,
    signer: Signer,
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: String,
}

impl Sessions {
    /// Sessions for `api_key`: its login form accepts that key alone.
    pub fn new(api_key: &str) -> Sessions {
        Sessions {
            inner: Arc::new(Inner {
                api_key: api_key.to_string(),
                signer: Signer::new(format!("kairos-session\u{0}{api_key}")),
            }),
        }
    }

    /// `/login` (the form, and its POST) and `/logout`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/login", get(login_page).post(login))
            .route("/logout", post(logout))
            .with_state(self.clone())
    }

    /// `router` behind a session (or the API key as a Bearer header, for scripts): a page
    /// asked for without one redirects to `/login`, anything else is a JSON 401.
    pub fn protect(&self, router: Router) -> Router {
        router.route_layer(middleware::from_fn_with_state(self.clone(), require))
    }

    fn cookie_value(&self, now: DateTime<Utc>) -> String {
        let expires = (now + Duration::hours(LIFETIME_HOURS)).timestamp();
        self.inner.signer.token("session", &expires.to_string())
    }

    fn valid(&self, headers: &HeaderMap, now: DateTime<Utc>) -> bool {
        // No key admits no one: a cookie signed with a key derived from "" anyone can make.
        if self.inner.api_key.is_empty() {
            return false;
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .is_some_and(|(_, key)| is_key(&self.inner.api_key, key.trim()));
        bearer
            || cookie(headers, COOKIE).is_some_and(|value| {
                matches!(self.inner.signer.verify(value),
                    Ok((kind, expires)) if kind == "session"
                        && expires.parse::<i64>().is_ok_and(|e| e > now.timestamp()))
            })
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Where to go after logging in: a path on this site only (never `//elsewhere`).
fn local_path(next: &str) -> &str {
    let safe = next.starts_with('/')
        && !matches!(next.as_bytes().get(1), Some(b'/' | b'\\'))
        && next.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    if safe {
        next
    } else {
        "/"
    }
}

fn form(next: &str, error: Option<&str>) -> Html<String> {
    let error = error.map_or(String::new(), |e| {
        format!("<p role=\"alert\">{}</p>", escape(e))
    });
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Kairos — log in</title><link rel=\"icon\" href=\"data:,\"></head><body style=\"font-family:sans-serif;max-width:24em;margin:4em auto\"><h1>Kairos</h1>{error}<form method=\"post\" action=\"/login\"><label>API key <input type=\"password\" name=\"key\" autocomplete=\"current-password\" required autofocus></label><input type=\"hidden\" name=\"next\" value=\"{}\"> <button type=\"submit\">Log in</button></form></body></html>",
        escape(local_path(next))
    ))
}

async fn login_page(Query(q): Query<LoginQuery>) -> Html<String> {
    form(&q.next, None)
}

async fn login(State(sessions): State<Sessions>, Form(f): Form<LoginForm>) -> Response {
    if !is_key(&sessions.inner.api_key, &f.key) {
        // The form again, with why: a page to read (200), as login pages answer, so the
        // browser logs no failed request; no session was given.
        return form(&f.next, Some("That is not the API key.")).into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        sessions.cookie_value(Utc::now()),
        LIFETIME_HOURS * 3600
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(local_path(&f.next)),
    )
        .into_response()
}

async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

async fn require(State(sessions): State<Sessions>, request: Request, next: Next) -> Response {
    if sessions.valid(request.headers(), Utc::now()) {
        return next.run(request).await;
    }
    if request.method() == Method::GET {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let encoded: String = path
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        return Redirect::to(&format!("/login?next={encoded}")).into_response();
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "log in at /login, or send `Authorization: Bearer <api key>`",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_site_are_followed_after_login() {
        for ok in ["/outbox", "/outbox/local-1?x=1", "/"] {
            assert_eq!(local_path(ok), ok);
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil.example",
            "/ /x",
            "evil",
            "",
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }
}
