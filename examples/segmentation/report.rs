//! The Dice table, the logs (CSV, JSON) and the plot (PNG).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use plotters::prelude::*;

use crate::app::Summary;
use crate::data::CLASS_NAMES;

/// One row per class, one column per loss.
pub fn dice_table(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = write!(out, "| class (voxel share) |");
    for run in &summary.runs {
        let _ = write!(out, " {} |", run.kind.name());
    }
    out.push('\n');
    out.push_str("|---|");
    out.push_str(&"---:|".repeat(summary.runs.len()));
    out.push('\n');
    for (c, name) in CLASS_NAMES.iter().enumerate() {
        let _ = write!(
            out,
            "| {name} ({:.2}%) |",
            100.0 * summary.class_fractions[c]
        );
        for run in &summary.runs {
            let _ = write!(out, " {:.3} |", run.dice[c]);
        }
        out.push('\n');
    }
    let _ = write!(out, "| train time (s) |");
    for run in &summary.runs {
        let _ = write!(out, " {:.1} |", run.seconds);
    }
    out
}

/// Writes `curves.png`, `training.csv`, `dice.csv` and `summary.json` into the output folder.
pub fn write_all(summary: &Summary) -> Result<(), Box<dyn std::error::Error>> {
    let out = &summary.config.out;
    fs::create_dir_all(out)?;
    let mut training = String::from("loss,step,value\n");
    for run in &summary.runs {
        for (step, value) in run.curve.iter().enumerate() {
            let _ = writeln!(training, "{},{},{}", run.kind.name(), step, value);
        }
    }
    fs::write(out.join("training.csv"), training)?;
    let mut dice = String::from("class");
    for run in &summary.runs {
        let _ = write!(dice, ",{}", run.kind.name());
    }
    dice.push('\n');
    for (c, name) in CLASS_NAMES.iter().enumerate() {
        dice.push_str(name);
        for run in &summary.runs {
            let _ = write!(dice, ",{}", run.dice[c]);
        }
        dice.push('\n');
    }
    fs::write(out.join("dice.csv"), dice)?;
    let json = serde_json::json!({
        "seed": summary.config.seed,
        "steps": summary.config.steps,
        "size": summary.config.size,
        "batch": summary.config.batch,
        "device": focal::device_name(summary.config.device),
        "seconds": summary.seconds,
        "class_fractions": summary.class_fractions,
        "classes": CLASS_NAMES,
        "runs": summary.runs.iter().map(|r| serde_json::json!({
            "loss": r.kind.name(),
            "dice": r.dice,
            "final_loss": r.curve.last(),
            "seconds": r.seconds,
            "voxels_per_second": r.voxels_per_second,
        })).collect::<Vec<_>>(),
    });
    fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    plot(summary, &out.join("curves.png"))?;
    Ok(())
}

fn plot(summary: &Summary, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(640);
    let steps = summary.config.steps.max(2);
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN];

    // Training curves, each divided by its first value so losses of different scales compare.
    let normalised: Vec<Vec<f64>> = summary
        .runs
        .iter()
        .map(|r| {
            let first = r
                .curve
                .first()
                .copied()
                .filter(|v| *v != 0.0)
                .unwrap_or(1.0);
            r.curve.iter().map(|v| v / first).collect()
        })
        .collect();
    let top = normalised.iter().flatten().copied().fold(1.0f64, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&left)
        .caption("training loss / first value", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0usize..steps, 0.0f64..top)?;
    chart.configure_mesh().x_desc("step").draw()?;
    for (i, (run, curve)) in summary.runs.iter().zip(&normalised).enumerate() {
        let color = palette[i % palette.len()];
        chart
            .draw_series(LineSeries::new(
                curve.iter().copied().enumerate(),
                color.stroke_width(2),
            ))?
            .label(run.kind.name())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    // Per-class Dice, grouped by class, one bar per loss.
    let n = summary.runs.len().max(1) as f64;
    let mut bars = ChartBuilder::on(&right)
        .caption("held-out Dice per class", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0f64..CLASS_NAMES.len() as f64, 0.0f64..1.05)?;
    bars.configure_mesh()
        .disable_x_mesh()
        .x_labels(CLASS_NAMES.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 1e-6 && i < CLASS_NAMES.len() {
                CLASS_NAMES[i].to_owned()
            } else {
                String::new()
            }
        })
        .draw()?;
    for (i, run) in summary.runs.iter().enumerate() {
        let color = palette[i % palette.len()];
        bars.draw_series(run.dice.iter().enumerate().map(|(c, d)| {
            let x0 = c as f64 + 0.1 + 0.8 * i as f64 / n;
            Rectangle::new([(x0, 0.0), (x0 + 0.8 / n, *d)], color.filled())
        }))?
        .label(run.kind.name())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    bars.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
