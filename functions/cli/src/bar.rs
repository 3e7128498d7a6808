//! The progress bar a backfill draws: one step per pair and period.

use coinlake::backfill::{Progress, Unit, UnitOutcome};
use indicatif::{ProgressBar, ProgressStyle};

pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::new(0);
        // A template is a constant: a typo here shows as the default style, not a failure.
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} files {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn planned(&self, units: usize) {
        self.0.set_length(units as u64);
    }

    fn started(&self, unit: &Unit) {
        self.0
            .set_message(format!("{} {}", unit.symbol, unit.period));
    }

    fn finished(&self, unit: &Unit, outcome: &UnitOutcome) {
        if let UnitOutcome::Failed { kind } = outcome {
            self.0
                .println(format!("{} {}: failed ({kind})", unit.symbol, unit.period));
        }
        self.0.inc(1);
    }
}
