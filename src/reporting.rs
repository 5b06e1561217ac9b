//! The report step of `report` and `run`: refuse a window past the retention, reconcile and
//! write the report (and the orphans and numbers files) atomically, tally the spend, then
//! prune past the retention and raise the missed-webhooks alarm. A dry run writes the report
//! (to stdout unless told otherwise) and nothing else.

use crate::app::{Plan, print_lines};
use crate::cli::ReportOutArgs;
use crate::error::{Exit, Stopped, UsageError};
use crate::store::Store;
use crate::summary::Recorder;
use crate::{reconcile, report, timefmt};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Refuses a window older than the retention horizon: its calls and audit trail are gone (or
/// go after this report), so its report could not be right. The horizon is dated by the data
/// as well as the clock (see [`crate::store::retention::Horizon`]), so a wrong `--now` can
/// neither prune history nor refuse a normal night.
pub fn check_retention(plan: &Plan, store: &Store) -> Result<()> {
    let horizon = store.horizon(plan.now.timestamp(), retain_secs(plan))?;
    let Some(oldest) = horizon.oldest_reportable() else {
        return Ok(());
    };
    if plan.window.from.timestamp() < oldest {
        let at = chrono::DateTime::from_timestamp(oldest, 0).unwrap_or_default();
        return Err(UsageError::new(format!(
            "the window starts {}, before the retention horizon {} ({} days before the newest \
             landed call, or before an earlier prune); callrecon no longer keeps what such a \
             report needs. Raise --retain-days to report a window this old",
            timefmt::format_utc(plan.window.from),
            timefmt::format_utc(at),
            plan.retain_days,
        )));
    }
    Ok(())
}

fn retain_secs(plan: &Plan) -> i64 {
    i64::from(plan.retain_days) * 86_400
}

/// After a report: the summary, pruning past the retention, and the missed-webhooks alarm.
pub fn finish_report(
    store: &mut Store,
    plan: &Plan,
    out: &ReportOutArgs,
    written: Written,
    rec: &mut Recorder,
) -> Result<()> {
    print_lines(written.lines());
    rec.reported(&written);
    // A dry run leaves everything but the landed data as it was, old rows included.
    let started = std::time::Instant::now();
    let pruned = if out.dry_run {
        Default::default()
    } else {
        let pruned = store.prune(plan.now.timestamp(), retain_secs(plan));
        crate::store::failure::in_step(pruned, "pruning past the retention", &plan.db)?
    };
    tracing::debug!("pruning took {:.3} s", started.elapsed().as_secs_f64());
    if pruned.rows > 0 {
        // Deleting history is never silent: a summary line, shown at the default level.
        print_lines(vec![pruned_line(&pruned, plan.retain_days)]);
    }
    rec.pruned(&pruned);
    if let Some(limit) = out.fail_if_missed_webhooks {
        let pct = written.summary.missed_webhooks_pct();
        if pct > limit {
            return Err(anyhow::Error::new(Stopped {
                exit: Exit::Alarm,
                message: format!(
                    "{pct:.1}% of final statuses had to be backfilled (more than \
                     --fail-if-missed-webhooks {limit}): the StatusCallback endpoint probably \
                     missed webhooks; the report and write-back are complete"
                ),
            }));
        }
    }
    Ok(())
}

fn pruned_line(p: &crate::store::retention::Pruned, retain_days: u32) -> String {
    let at = p
        .horizon
        .and_then(|h| chrono::DateTime::from_timestamp(h, 0))
        .map(timefmt::format_utc)
        .unwrap_or_default();
    let tables: Vec<String> = p.by_table.iter().map(|(t, n)| format!("{t} {n}")).collect();
    format!(
        "retention: pruned {} row(s) dated before {at} ({retain_days} days before the newest landed call): {}",
        p.rows,
        tables.join(", ")
    )
}

/// What `report` produced: the reconciliation's summary, the spend, and the files written.
pub struct Written {
    pub summary: reconcile::Summary,
    pub spend: Vec<report::spend::Spend>,
    pub files: Vec<String>,
}

impl Written {
    pub fn lines(&self) -> Vec<String> {
        let spend = self.spend.iter().map(|s| {
            format!(
                "spend: {} {} {} over {} priced call(s)",
                s.outcome, s.total, s.price_unit, s.calls
            )
        });
        self.files
            .iter()
            .cloned()
            .chain(self.summary.lines())
            .chain(spend)
            .collect()
    }
}

/// Reconciles, writes the report atomically (on any error the destination is untouched),
/// then the orphans and numbers files when asked for.
pub fn write_report(store: &mut Store, plan: &mut Plan, out: &ReportOutArgs) -> Result<Written> {
    check_retention(plan, store)?;
    let opts = plan.report_options(out);
    // A dry run shows its report on stdout unless told where to put it.
    let dest = out.out.clone().unwrap_or_else(|| PathBuf::from("-"));
    let writer = report::Writer::create(&dest)?.excel_safe(out.excel_safe);
    let summary = reconcile::reconcile(store, &mut plan.numbers, &opts, writer)?;
    let spend = summary.spend.spend();
    let mut files = Vec::new();
    if dest.as_os_str() != "-" {
        files.push(format!("report written to {}", dest.display()));
    }
    if let Some(path) = &out.orphans_out {
        let n = report::orphans::write(&store.conn, opts.window, path, out.excel_safe)
            .with_context(|| format!("writing the orphans file {}", path.display()))?;
        files.push(format!("{n} orphan call(s) written to {}", path.display()));
    }
    if let Some(path) = &out.numbers_out {
        let n = report::numbers::write(&store.conn, path, out.excel_safe)
            .with_context(|| format!("writing the numbers file {}", path.display()))?;
        files.push(format!("{n} number(s) written to {}", path.display()));
    }
    Ok(Written {
        summary,
        spend,
        files,
    })
}
