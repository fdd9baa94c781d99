//! `spoor es-rollover init|rollover|lookback URL`: Jaeger's `es-rollover` job, for a backend
//! with `use_aliases: true`. Per kind (spans, services, and dependencies unless
//! `--skip-dependencies`):
//! - `init` puts the index template, creates `{prefix-}jaeger-span-000001`, and points the
//!   aliases `{prefix-}jaeger-span-read` and `-write` at it (each only when missing);
//! - `rollover` asks the server to roll the write alias over to a new index when the
//!   `--conditions` hold, then adds every index the write alias covers to the read alias.
//!   Servers without `_rollover` (osmem-server, some managed services) get the same outcome
//!   from spoor: it checks `max_age` and `max_docs` itself, creates the next index, and moves
//!   the write alias with one atomic `_aliases` request;
//! - `lookback` removes from the read alias the indices created before `--unit-count` `--unit`s
//!   ago (never the write index).

use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::{AliasAction, Connection, Index, jaeger_indices, update_aliases};
use crate::client::{Client, EsError, check, error_reason};
use crate::config::ElasticConfig;
use crate::indices::{self, DEPENDENCIES, SERVICE, SPAN};
use spoor_pipeline::civil::{civil_from_days, days_from_civil};

#[derive(Debug, clap::Subcommand)]
pub enum RolloverCommand {
    /// Create the templates, the first index of each kind and its read and write aliases.
    Init(InitArgs),
    /// Roll each write alias over to a new index when the conditions hold.
    Rollover(RolloverArgs),
    /// Remove old indices from the read aliases.
    Lookback(LookbackArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long, default_value_t = 5)]
    pub shards: u32,
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,
    /// Leave the dependencies index out.
    #[arg(long = "skip-dependencies")]
    pub skip_dependencies: bool,
}

#[derive(Debug, clap::Args)]
pub struct RolloverArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The conditions of Elasticsearch's rollover API, as JSON.
    #[arg(long, default_value = r#"{"max_age": "2d"}"#)]
    pub conditions: String,
    #[arg(long = "skip-dependencies")]
    pub skip_dependencies: bool,
}

#[derive(Debug, clap::Args)]
pub struct LookbackArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// minutes, hours, days, weeks, months or years (anything else counts seconds, as Jaeger).
    #[arg(long, default_value = "days")]
    pub unit: String,
    #[arg(long = "unit-count", default_value_t = 1)]
    pub unit_count: u32,
    #[arg(long = "skip-dependencies")]
    pub skip_dependencies: bool,
}

fn kinds(skip_dependencies: bool) -> Vec<&'static str> {
    if skip_dependencies { vec![SPAN, SERVICE] } else { vec![SPAN, SERVICE, DEPENDENCIES] }
}

pub async fn run(command: RolloverCommand) -> Result<(), String> {
    match command {
        RolloverCommand::Init(args) => init(&args).await,
        RolloverCommand::Rollover(args) => rollover(&args).await,
        RolloverCommand::Lookback(args) => lookback(&args).await,
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

async fn init(args: &InitArgs) -> Result<(), String> {
    let (client, mut config) = args.connection.client()?;
    for options in [&mut config.indices.spans, &mut config.indices.services, &mut config.indices.dependencies] {
        options.shards = args.shards;
        options.replicas = args.replicas;
    }
    let flavor = client.detect().await.map_err(|e| e.to_string())?;
    for kind in kinds(args.skip_dependencies) {
        let (path, body) = indices::template(&config, flavor, kind);
        client.json(Method::PUT, &path, Some(&body)).await.map_err(|e| format!("template {kind}: {e}"))?;
        let base = args.connection.name(kind);
        let first = format!("{base}-000001");
        let existing = jaeger_indices(&client, &config.indices.index_prefix).await.map_err(|e| e.to_string())?;
        let taken = existing.iter().any(|i| i.name == first || i.aliases.contains(&first));
        if !taken {
            client.json(Method::PUT, &first, Some(&json!({}))).await.map_err(|e| format!("creating {first}: {e}"))?;
            tracing::info!(index = %first, "created");
        }
        let mut actions = Vec::new();
        for (alias, write) in [(format!("{base}-read"), false), (format!("{base}-write"), false)] {
            if !existing.iter().any(|i| i.aliases.contains(&alias)) {
                actions.push(AliasAction::Add { index: first.clone(), alias, is_write_index: write });
            }
        }
        update_aliases(&client, &actions).await.map_err(|e| format!("aliases of {first}: {e}"))?;
    }
    Ok(())
}

/// The `_rollover` request for `write_alias`: Jaeger's path and body.
pub fn rollover_request(write_alias: &str, conditions: &Map<String, Value>) -> (String, Option<Value>) {
    let body = (!conditions.is_empty()).then(|| json!({ "conditions": conditions }));
    (format!("{write_alias}/_rollover/"), body)
}

/// What a `_rollover` answer says: the old and new index, and whether it rolled over.
#[derive(Debug, PartialEq)]
pub struct RolledOver {
    pub old_index: String,
    pub new_index: String,
    pub rolled_over: bool,
}

pub fn parse_rollover_answer(answer: &Value) -> Result<RolledOver, String> {
    let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
    match (text("old_index"), text("new_index"), answer.get("rolled_over").and_then(Value::as_bool)) {
        (Some(old_index), Some(new_index), Some(rolled_over)) => Ok(RolledOver { old_index, new_index, rolled_over }),
        _ => Err(format!("unexpected _rollover answer: {answer}")),
    }
}

async fn rollover(args: &RolloverArgs) -> Result<(), String> {
    let (client, config) = args.connection.client()?;
    let conditions: Map<String, Value> =
        serde_json::from_str(&args.conditions).map_err(|err| format!("--conditions: not a JSON object: {err}"))?;
    for kind in kinds(args.skip_dependencies) {
        let base = args.connection.name(kind);
        let write_alias = format!("{base}-write");
        let (path, body) = rollover_request(&write_alias, &conditions);
        let (status, answer) = client
            .send(Method::POST, &path, body.map(|b| bytes::Bytes::from(b.to_string())), false)
            .await
            .map_err(|e| e.to_string())?;
        if without_rollover_api(status, &answer) {
            tracing::info!(alias = %write_alias, "the server has no _rollover API: rolling over with _aliases");
            rollover_with_aliases(&client, &config, &write_alias, &conditions).await?;
        } else {
            check(Method::POST, &path, status, &answer).map_err(|e| e.to_string())?;
            let answer: Value = serde_json::from_slice(&answer).map_err(|e| format!("{path}: {e}"))?;
            let outcome = parse_rollover_answer(&answer)?;
            tracing::info!(old = %outcome.old_index, new = %outcome.new_index, rolled_over = outcome.rolled_over, "rollover");
        }
        // Every index the write alias has covered is readable.
        let indices = jaeger_indices(&client, &config.indices.index_prefix).await.map_err(|e| e.to_string())?;
        let read_alias = format!("{base}-read");
        let actions: Vec<AliasAction> = indices
            .iter()
            .filter(|index| index.aliases.contains(&write_alias) && !index.aliases.contains(&read_alias))
            .map(|index| AliasAction::Add {
                index: index.name.clone(),
                alias: read_alias.clone(),
                is_write_index: false,
            })
            .collect();
        update_aliases(&client, &actions).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Whether an answer says the server has no `_rollover` endpoint (as opposed to a failed one).
fn without_rollover_api(status: StatusCode, answer: &[u8]) -> bool {
    matches!(status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)
        && error_reason(answer).contains("no handler found")
}

/// `_rollover` done by spoor: check the conditions, create the next index, move the alias.
async fn rollover_with_aliases(
    client: &Client,
    config: &ElasticConfig,
    write_alias: &str,
    conditions: &Map<String, Value>,
) -> Result<(), String> {
    let indices = jaeger_indices(client, &config.indices.index_prefix).await.map_err(|e| e.to_string())?;
    let current: Vec<&Index> = indices.iter().filter(|i| i.aliases.contains(write_alias)).collect();
    let [current] = current.as_slice() else {
        return Err(format!("{write_alias} must point at exactly one index, not {}", current.len()));
    };
    if !conditions_hold(client, current, conditions).await? {
        tracing::info!(index = %current.name, "rollover conditions do not hold yet");
        return Ok(());
    }
    let next = next_index_name(&current.name)?;
    client.json(Method::PUT, &next, Some(&json!({}))).await.map_err(|e| format!("creating {next}: {e}"))?;
    let actions = [
        AliasAction::Remove { index: current.name.clone(), alias: write_alias.to_owned() },
        AliasAction::Add { index: next.clone(), alias: write_alias.to_owned(), is_write_index: false },
    ];
    update_aliases(client, &actions).await.map_err(|e| e.to_string())?;
    tracing::info!(old = %current.name, new = %next, "rolled over");
    Ok(())
}

/// Whether any condition holds (Elasticsearch's rule); no conditions means roll over.
async fn conditions_hold(client: &Client, index: &Index, conditions: &Map<String, Value>) -> Result<bool, String> {
    if conditions.is_empty() {
        return Ok(true);
    }
    let mut any = false;
    for (name, value) in conditions {
        let holds = match name.as_str() {
            "max_age" => {
                let age = value.as_str().ok_or("max_age must be a string such as \"2d\"").and_then(|t| {
                    parse_es_duration_ms(t).ok_or("max_age: not an Elasticsearch time value (2d, 12h, 30m, 10s, 500ms)")
                })?;
                now_ms().saturating_sub(index.created_ms) >= age
            }
            "max_docs" => {
                let limit = value.as_u64().ok_or("max_docs must be a whole number")?;
                let count = client
                    .json(Method::GET, &format!("{}/_count", index.name), None)
                    .await
                    .map_err(|e: EsError| e.to_string())?;
                count.get("count").and_then(Value::as_u64).unwrap_or_default() >= limit
            }
            other => {
                return Err(format!(
                    "condition {other:?} needs the server's _rollover API; without it spoor checks max_age and max_docs"
                ));
            }
        };
        any |= holds;
    }
    Ok(any)
}

/// An Elasticsearch time value in ms: `2d`, `12h`, `30m`, `10s`, `500ms`.
fn parse_es_duration_ms(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1000,
        "ms" => 1,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// `jaeger-span-000001` → `jaeger-span-000002`, as Elasticsearch names a rolled-over index.
fn next_index_name(name: &str) -> Result<String, String> {
    let (base, number) = name.rsplit_once('-').ok_or_else(|| format!("{name} has no -NNNNNN suffix"))?;
    let number: u64 = number.parse().map_err(|_| format!("{name} has no -NNNNNN suffix"))?;
    Ok(format!("{base}-{:06}", number + 1))
}

/// The time before which indices leave the read alias, as Jaeger's `getTimeReference` (UTC).
pub fn lookback_reference_ms(now_ms: u64, unit: &str, count: u32) -> u64 {
    let day = 86_400_000;
    let calendar = |months: i64| {
        let (year, month, date) = civil_from_days((now_ms / day) as i64);
        let days = days_from_civil(year, i64::from(month) - months, i64::from(date));
        u64::try_from(days).unwrap_or_default() * day
    };
    let months = i64::from(count);
    let count = u64::from(count);
    let tomorrow = (now_ms / day + 1) * day;
    match unit {
        "minutes" => (now_ms / 60_000 * 60_000).saturating_sub(count * 60_000),
        "hours" => (now_ms / 3_600_000 * 3_600_000).saturating_sub(count * 3_600_000),
        "days" => tomorrow.saturating_sub(count * day),
        "weeks" => tomorrow.saturating_sub(count * 7 * day),
        "months" => calendar(months),
        "years" => calendar(12 * months),
        _ => (now_ms / 1000 * 1000).saturating_sub(count * 1000),
    }
}

async fn lookback(args: &LookbackArgs) -> Result<(), String> {
    let (client, config) = args.connection.client()?;
    let before = lookback_reference_ms(now_ms(), &args.unit, args.unit_count);
    let indices = jaeger_indices(&client, &config.indices.index_prefix).await.map_err(|e| e.to_string())?;
    for kind in kinds(args.skip_dependencies) {
        let base = args.connection.name(kind);
        let (read_alias, write_alias) = (format!("{base}-read"), format!("{base}-write"));
        let actions: Vec<AliasAction> = indices
            .iter()
            .filter(|i| i.aliases.contains(&read_alias) && !i.aliases.contains(&write_alias) && i.created_ms < before)
            .map(|i| AliasAction::Remove { index: i.name.clone(), alias: read_alias.clone() })
            .collect();
        tracing::info!(alias = %read_alias, indices = actions.len(), "removing old indices from the read alias");
        update_aliases(&client, &actions).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rollover_request_is_jaegers_and_the_answer_is_read() {
        // Jaeger's esclient/testdata/rollover.json: POST /jaeger-span-write/_rollover/ with
        // {"conditions": {"max_age": "2d"}}.
        let conditions: Map<String, Value> = serde_json::from_str(r#"{"max_age": "2d"}"#).unwrap();
        let (path, body) = rollover_request("jaeger-span-write", &conditions);
        assert_eq!(path, "jaeger-span-write/_rollover/");
        assert_eq!(body, Some(json!({"conditions": {"max_age": "2d"}})));
        assert_eq!(rollover_request("x-write", &Map::new()).1, None);
        // Elasticsearch 8's answer, as its rollover API documents it.
        let answer = json!({
            "acknowledged": true, "shards_acknowledged": true,
            "old_index": "jaeger-span-000001", "new_index": "jaeger-span-000002",
            "rolled_over": true, "dry_run": false, "lazy": false,
            "conditions": {"[max_age: 2d]": true}
        });
        assert_eq!(
            parse_rollover_answer(&answer).unwrap(),
            RolledOver {
                old_index: "jaeger-span-000001".into(),
                new_index: "jaeger-span-000002".into(),
                rolled_over: true
            }
        );
        assert!(parse_rollover_answer(&json!({"acknowledged": true})).is_err());
        // osmem-server's answer where there is no _rollover.
        let missing = br#"{"error":"no handler found for uri [/t-jaeger-span-write/_rollover] and method [POST]"}"#;
        assert!(without_rollover_api(StatusCode::BAD_REQUEST, missing));
        assert!(!without_rollover_api(StatusCode::BAD_REQUEST, br#"{"error":{"type":"x","reason":"bad"}}"#));
    }

    #[test]
    fn names_times_and_references() {
        assert_eq!(next_index_name("tracing-jaeger-span-000009").unwrap(), "tracing-jaeger-span-000010");
        assert!(next_index_name("jaeger-span").is_err());
        assert_eq!(parse_es_duration_ms("2d"), Some(172_800_000));
        assert_eq!(parse_es_duration_ms("500ms"), Some(500));
        assert_eq!(parse_es_duration_ms("2x"), None);
        let day = 86_400_000;
        let now = 20_000 * day + 5 * 3_600_000;
        assert_eq!(lookback_reference_ms(now, "days", 1), 20_000 * day);
        assert_eq!(lookback_reference_ms(now, "days", 2), 19_999 * day);
        assert_eq!(lookback_reference_ms(now, "hours", 1), now - 3_600_000);
        let (y, m, d) = civil_from_days(20_000);
        let month_ago = days_from_civil(y, i64::from(m) - 1, i64::from(d)) as u64;
        assert_eq!(lookback_reference_ms(now, "months", 1), month_ago * day);
    }
}
