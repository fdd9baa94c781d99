//! `spoor es-index-cleaner NUM_OF_DAYS URL` (or `--days N URL`): Jaeger's `es-index-cleaner`.
//! It deletes the backend's indices created before midnight (UTC) `NUM_OF_DAYS - 1` days ago:
//! day indices (`{prefix-}jaeger-span-2026-12-01`, with `--index-date-separator`), or with
//! `--rollover` the rolled-over ones (`-000001`), never an index a write alias points at.

use std::time::{SystemTime, UNIX_EPOCH};

use http::Method;

use super::{Connection, ConnectionFlags, Index, jaeger_indices};
use crate::indices::with_prefix;

#[derive(Debug, clap::Args)]
pub struct CleanerArgs {
    /// Jaeger's form: `NUM_OF_DAYS URL`; or `--days N URL`.
    #[arg(value_name = "NUM_OF_DAYS URL", num_args = 1..=2, required = true)]
    pub positional: Vec<String>,
    /// Days of indices to keep, today included.
    #[arg(long)]
    pub days: Option<u32>,
    /// Clean the indices of rollover mode (`use_aliases`) instead of day indices.
    #[arg(long)]
    pub rollover: bool,
    /// The separator in the day indices' dates.
    #[arg(long = "index-date-separator", default_value = "-")]
    pub index_date_separator: String,
    #[command(flatten)]
    pub flags: ConnectionFlags,
}

impl CleanerArgs {
    /// The days to keep and the URL, from either form.
    fn days_and_url(&self) -> Result<(u32, String), String> {
        match (self.days, self.positional.as_slice()) {
            (Some(days), [url]) => Ok((days, url.clone())),
            (None, [days, url]) => {
                let days = days.parse().map_err(|_| format!("NUM_OF_DAYS: {days:?} is not a whole number"))?;
                Ok((days, url.clone()))
            }
            (Some(_), _) => Err("with --days, give only the URL".to_owned()),
            (None, _) => Err("give NUM_OF_DAYS and the URL (or --days N and the URL)".to_owned()),
        }
    }
}

/// Midnight (UTC) that starts the oldest day kept, in Unix ms.
pub fn cutoff_ms(now_ms: u64, days: u32) -> u64 {
    let day = 86_400_000;
    ((now_ms / day + 1) * day).saturating_sub(u64::from(days) * day)
}

/// The indices to delete: the backend's kinds, in the mode's naming, created before `cutoff`,
/// and not behind a write alias.
pub fn to_delete<'a>(
    indices: &'a [Index],
    prefix: &str,
    rollover: bool,
    separator: &str,
    cutoff: u64,
) -> Vec<&'a Index> {
    let kinds = ["jaeger-span-", "jaeger-service-", "jaeger-dependencies-", "jaeger-sampling-"];
    let write_aliases: Vec<String> = kinds.iter().map(|kind| with_prefix(prefix, &format!("{kind}write"))).collect();
    indices
        .iter()
        .filter(|index| {
            let Some(rest) = kinds.iter().find_map(|kind| index.name.strip_prefix(&with_prefix(prefix, kind))) else {
                return false;
            };
            let named = if rollover { is_rollover_suffix(rest) } else { is_date(rest, separator) };
            named && index.created_ms < cutoff && !write_aliases.iter().any(|alias| index.aliases.contains(alias))
        })
        .collect()
}

fn is_rollover_suffix(rest: &str) -> bool {
    rest.len() >= 6 && rest[..6].bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY{sep}MM{sep}DD` at the start of `rest`, as Jaeger's pattern matches it.
fn is_date(rest: &str, separator: &str) -> bool {
    let digits = |text: &str, n: usize| text.len() >= n && text[..n].bytes().all(|b| b.is_ascii_digit());
    let Some(after_year) = rest.get(4..).filter(|_| digits(rest, 4)) else { return false };
    let Some(month) = after_year.strip_prefix(separator) else { return false };
    let Some(after_month) = month.get(2..).filter(|_| digits(month, 2)) else { return false };
    after_month.strip_prefix(separator).is_some_and(|day| digits(day, 2))
}

pub async fn run(args: &CleanerArgs) -> Result<(), String> {
    let (days, url) = args.days_and_url()?;
    let connection = Connection { url, flags: args.flags.clone() };
    let prefix = &args.flags.index_prefix;
    let (client, _) = connection.client()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
    let cutoff = cutoff_ms(now, days);
    let indices = jaeger_indices(&client, prefix).await.map_err(|e| e.to_string())?;
    let doomed = to_delete(&indices, prefix, args.rollover, &args.index_date_separator, cutoff);
    if doomed.is_empty() {
        tracing::info!("no indices to delete");
        return Ok(());
    }
    let names: Vec<&str> = doomed.iter().map(|index| index.name.as_str()).collect();
    tracing::info!(indices = ?names, "deleting");
    client.json(Method::DELETE, &names.join(","), None).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn index(name: &str, created_ms: u64, aliases: &[&str]) -> Index {
        Index { name: name.into(), created_ms, aliases: aliases.iter().map(|a| a.to_string()).collect::<BTreeSet<_>>() }
    }

    #[test]
    fn old_indices_of_the_mode_go_and_write_indices_stay() {
        let day = 86_400_000;
        let now = 20_000 * day + 1000;
        // Keep 1 day: everything created before today's midnight goes.
        assert_eq!(cutoff_ms(now, 1), 20_000 * day);
        assert_eq!(cutoff_ms(now, 0), 20_001 * day);
        let indices = [
            index("t-jaeger-span-2024-10-01", 19_990 * day, &[]),
            index("t-jaeger-service-2024-10-01", 19_990 * day, &[]),
            index("t-jaeger-span-2024-10-10", 20_000 * day + 5, &[]),
            index("other-index", 0, &[]),
            index("t-jaeger-span-000001", 19_990 * day, &["t-jaeger-span-read"]),
            index("t-jaeger-span-000002", 19_990 * day, &["t-jaeger-span-write"]),
        ];
        let names = |v: Vec<&Index>| v.into_iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(to_delete(&indices, "t", false, "-", cutoff_ms(now, 1))),
            ["t-jaeger-span-2024-10-01", "t-jaeger-service-2024-10-01"]
        );
        assert_eq!(names(to_delete(&indices, "t", true, "-", cutoff_ms(now, 1))), ["t-jaeger-span-000001"]);
        assert!(to_delete(&indices, "t", false, ".", cutoff_ms(now, 1)).is_empty());
        assert!(is_date("2024.10.01", "."));
    }
}
