//! Spend per outcome and currency: the sum of Twilio's `price` over the window's ledger rows,
//! by the row's outcome and the call's `price_unit`, for the run summary.
//!
//! Prices are Twilio's decimal text (`"-0.01300"`, negative for a charge) and are summed
//! exactly, as integers scaled by a power of ten, never as floats: a billing team compares
//! these totals with an invoice. The report adds each row as it streams (completed calls
//! included whether or not the report lists them), so the spend agrees with the report row
//! for row, without reading the calls a second time.

use crate::reconcile::classify::OUTCOMES;
use serde::Serialize;

/// What one outcome cost in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spend {
    pub outcome: String,
    pub price_unit: String,
    /// The exact sum, as decimal text with the most fraction digits any price had.
    pub total: String,
    /// Priced calls summed.
    pub calls: u64,
}

/// The running sums, one per (outcome, currency): a handful, so a list.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    sums: Vec<(&'static str, String, Decimal, u64)>,
}

impl Tally {
    /// Adds one window row's matched call. Its outcome is the call's final status, but a
    /// failed call is `unreachable` when its error said so (`row_outcome`, from classify.rs),
    /// and a call still running is `pending`. Calls without a price are not counted.
    pub fn add(
        &mut self,
        status: &str,
        row_outcome: &'static str,
        unit: Option<&str>,
        price: &str,
    ) {
        // SQLite's trim(): spaces only; other blanks reach the parser, which refuses them.
        if price.trim_matches(' ').is_empty() {
            return;
        }
        let outcome = match status {
            "failed" => row_outcome,
            "completed" => "completed",
            "busy" => "busy",
            "no-answer" => "no-answer",
            "canceled" => "canceled",
            _ => "pending",
        };
        let Some(price) = Decimal::parse(price) else {
            tracing::warn!("price '{price}' is not a decimal number; left out of the spend");
            return;
        };
        let unit = unit.unwrap_or_default();
        match self
            .sums
            .iter_mut()
            .find(|(o, u, _, _)| *o == outcome && u == unit)
        {
            Some((_, _, total, calls)) => {
                *total = *total + price;
                *calls += 1;
            }
            None => self.sums.push((outcome, unit.to_owned(), price, 1)),
        }
    }

    /// The sums in the summary's outcome order, then by currency.
    pub fn spend(&self) -> Vec<Spend> {
        let rank = |o: &str| {
            OUTCOMES
                .iter()
                .position(|x| *x == o)
                .unwrap_or(OUTCOMES.len())
        };
        let mut sums = self.sums.clone();
        sums.sort_by(|a, b| (rank(a.0), a.0, &a.1).cmp(&(rank(b.0), b.0, &b.1)));
        sums.into_iter()
            .map(|(outcome, price_unit, total, calls)| Spend {
                outcome: outcome.to_owned(),
                price_unit,
                total: total.to_string(),
                calls,
            })
            .collect()
    }
}

/// An exact decimal: `units / 10^scale`. Twilio's prices have five fraction digits, so
/// an i128 holds the sum of more calls than an account will ever make.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decimal {
    units: i128,
    scale: u32,
}

/// More fraction digits than any currency uses; text beyond it is refused, not rounded.
const MAX_SCALE: u32 = 18;

impl Decimal {
    /// `"-0.01300"`, `"12"`, `"+1.5"`, `".5"`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (negative, digits) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty())
            || !all_digits(int)
            || !all_digits(frac)
            || frac.len() > MAX_SCALE as usize
        {
            return None;
        }
        let mut units: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        Some(Decimal {
            units: if negative { -units } else { units },
            scale: frac.len() as u32,
        })
    }

    /// The same value in units of `10^-scale` (`scale` at least `self.scale`).
    fn units_at(self, scale: u32) -> i128 {
        self.units * 10i128.pow(scale - self.scale)
    }
}

impl std::ops::Add for Decimal {
    type Output = Decimal;

    /// The exact sum, at the larger of the two scales.
    fn add(self, other: Decimal) -> Decimal {
        let scale = self.scale.max(other.scale);
        Decimal {
            units: self.units_at(scale) + other.units_at(scale),
            scale,
        }
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.units < 0 { "-" } else { "" };
        let abs = self.units.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{sign}{abs}");
        }
        let pow = 10u128.pow(self.scale);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / pow,
            abs % pow,
            width = self.scale as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(prices: &[&str]) -> String {
        prices
            .iter()
            .map(|p| Decimal::parse(p).unwrap())
            .fold(Decimal::default(), |a, b| a + b)
            .to_string()
    }

    #[test]
    fn sums_are_exact_where_floats_are_not() {
        assert_eq!(sum(&["-0.01300", "-0.01300", "-0.01400"]), "-0.04000");
        // 0.1 + 0.2 is 0.30000000000000004 in f64.
        assert_eq!(sum(&["0.1", "0.2"]), "0.3");
        assert_eq!(sum(&["-0.00500", "0.00500"]), "0.00000");
        assert_eq!(sum(&["12", "0.5"]), "12.5");
        assert_eq!(sum(&["-0.5", "0.25"]), "-0.25");
        assert_eq!(sum(&[".5", "+1"]), "1.5");
        let many: Vec<&str> = std::iter::repeat_n("-0.01300", 1_000_000).collect();
        assert_eq!(sum(&many), "-13000.00000");
    }

    #[test]
    fn a_tally_sums_by_outcome_then_currency_in_the_summarys_order() {
        let mut t = Tally::default();
        t.add("completed", "completed", Some("USD"), "-0.01300");
        t.add("failed", "unreachable", Some("USD"), "0.00000");
        t.add("completed", "completed", Some("EUR"), "-0.01000");
        t.add("completed", "completed", Some("USD"), "-0.01400");
        t.add("busy", "busy", None, "0");
        t.add("ringing", "pending", Some("USD"), "-0.5");
        t.add("completed", "completed", Some("USD"), " ");
        t.add("completed", "completed", Some("USD"), "n/a");
        let got: Vec<(String, String, String, u64)> = t
            .spend()
            .into_iter()
            .map(|s| (s.outcome, s.price_unit, s.total, s.calls))
            .collect();
        let want = [
            ("completed", "EUR", "-0.01000", 1),
            ("completed", "USD", "-0.02700", 2),
            ("busy", "", "0", 1),
            ("unreachable", "USD", "0.00000", 1),
            ("pending", "USD", "-0.5", 1),
        ];
        let want: Vec<(String, String, String, u64)> = want
            .iter()
            .map(|(o, u, t, n)| (o.to_string(), u.to_string(), t.to_string(), *n))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn text_that_is_not_a_decimal_is_refused() {
        for bad in [
            "",
            "-",
            ".",
            "1.2.3",
            "1e3",
            "abc",
            "NaN",
            "1,5",
            "0.1234567890123456789",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }
}
