//! How the programs built on the libraries show an error: the message and its causes on one line.

/// An error and its causes on one line, each cause once (a cause whose text the message already
/// holds, as an I/O error's often is, is not repeated): how the `trainer` and `runtime` binaries
/// print the error that stops them, and the text of the Python package's exceptions.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut cause = Some(e);
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::one_line;

    /// A message with an optional cause, optionally quoting the cause's text.
    #[derive(Debug)]
    struct Chain {
        text: String,
        cause: Option<Box<Chain>>,
    }

    impl fmt::Display for Chain {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.text)
        }
    }

    impl std::error::Error for Chain {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.cause.as_deref().map(|c| c as _)
        }
    }

    fn chain(links: &[&str]) -> Chain {
        links
            .iter()
            .rev()
            .fold(None, |cause, text| {
                Some(Chain {
                    text: text.to_string(),
                    cause: cause.map(Box::new),
                })
            })
            .expect("at least one link")
    }

    #[test]
    fn causes_follow_the_message_in_order() {
        let e = chain(&[
            "cannot load the bundle",
            "reading model.json",
            "permission denied",
        ]);
        assert_eq!(
            one_line(&e),
            "cannot load the bundle: reading model.json: permission denied"
        );
    }

    #[test]
    fn a_cause_the_message_already_quotes_is_not_repeated() {
        let e = chain(&[
            "reading x.png (No such file or directory)",
            "No such file or directory",
        ]);
        assert_eq!(one_line(&e), "reading x.png (No such file or directory)");
    }
}
