//! The data files both programs read and write, defined once in `realnvp_bundle` (`data`, `sampling`): a CSV
//! table gives the same numbers to `trainer fit --data csv:FILE` and to `runtime score`, and a vector model's
//! samples go to the same kinds of file, drawn alike, in `trainer sample` and `runtime sample`.

use std::path::Path;

use candle_core::Device;
use realnvp_models::FlowConfig;
use realnvp_runtime::vector_io;

type Result<T> = anyhow::Result<T>;

/// Tables as people write them: quoted cells (pandas' `quoting=csv.QUOTE_ALL`), comment and blank lines,
/// CRLF line ends, with and without a header.
const TABLES: [&str; 4] = [
    "\"x0\",\"x1\"\n\"1.5\",\"-2\"\n\"0.25\",\"3e-3\"\n",
    "# sampled by hand\nx0,x1\n\n1.5, -2\n# the second\n0.25,3e-3\n",
    "1.5,-2\r\n0.25,3e-3\r\n",
    " x0 , x1 \r\n\r\n1.5,-2\r\n0.25,0.003\r\n# end\r\n",
];

#[test]
fn trainer_and_runtime_read_a_csv_table_alike() -> Result<()> {
    let want: Vec<u32> = [1.5f32, -2.0, 0.25, 0.003]
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for text in TABLES {
        let (d, trained) =
            realnvp_trainer::data::parse_csv(text.as_bytes(), Path::new("t.csv"), &[])
                .map_err(|e| anyhow::anyhow!("trainer refused {text:?}: {e}"))?;
        let (scored, rows) = vector_io::parse_csv(text, 2, Path::new("t.csv"))
            .map_err(|e| anyhow::anyhow!("runtime refused {text:?}: {e}"))?;
        assert_eq!((d, rows), (2, 2), "{text:?}");
        assert_eq!(bits(&trained), want, "trainer on {text:?}");
        assert_eq!(bits(&scored), want, "runtime on {text:?}");
    }
    Ok(())
}

#[test]
fn a_vector_models_samples_go_to_the_same_files_in_both_programs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let device = Device::Cpu;
    let (model, _) = realnvp_trainer::init::seeded_init(&FlowConfig::preset("moons")?, 3, &device)?;
    // Extensions in upper case, as `runtime sample` has always taken them.
    let (csv, png) = (dir.path().join("s.CSV"), dir.path().join("s.PNG"));
    for out in [&csv, &png] {
        realnvp_trainer::sample::write_samples(&model, 300, 1.0, 7, out, 1, &device)?;
    }
    // The runtime's scatter of the trainer's samples (read back from its CSV, exact to the bit) is the
    // trainer's scatter, pixel for pixel: one picture size and one choice of points.
    let (x, n) = vector_io::read_csv(&csv, 2)?;
    assert_eq!(n, 300);
    let from_runtime = dir.path().join("runtime.png");
    vector_io::write_scatter_png(&from_runtime, &x, 2, realnvp_bundle::sampling::SCATTER_SIZE)?;
    let (a, b) = (
        image::open(&png)?.to_rgb8(),
        image::open(&from_runtime)?.to_rgb8(),
    );
    assert_eq!(a.dimensions(), b.dimensions());
    assert!(a == b, "the two scatter plots differ");
    Ok(())
}
