//! Values bound while a case runs, and the evaluation of scenario expressions.

use std::collections::HashMap;

use pop3_proto::auth::{self, apop, cram_md5, plain::Plain};
use scenario::plan::{Expr, Func};

/// A bound value: one string, or the list an `S*:` capture collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A single value.
    Scalar(Vec<u8>),
    /// Every value of a repeated capture, in order.
    List(Vec<Vec<u8>>),
}

impl Value {
    /// The value as bytes (a list gives its last element).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Value::Scalar(b) => b,
            Value::List(l) => l.last().map_or(&[][..], Vec::as_slice),
        }
    }
}

/// The variables of one case run.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    vars: HashMap<String, Value>,
}

impl Bindings {
    /// Binds a scalar.
    pub fn set(&mut self, name: &str, value: Vec<u8>) {
        self.vars.insert(name.to_owned(), Value::Scalar(value));
    }

    /// Appends to a list (creating it).
    pub fn push(&mut self, name: &str, value: Vec<u8>) {
        match self.vars.get_mut(name) {
            Some(Value::List(l)) => l.push(value),
            _ => {
                self.vars.insert(name.to_owned(), Value::List(vec![value]));
            }
        }
    }

    /// Makes `name` an empty list if it is unbound (an `S*:` that matched nothing).
    pub fn ensure_list(&mut self, name: &str) {
        self.vars
            .entry(name.to_owned())
            .or_insert_with(|| Value::List(Vec::new()));
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.get(name)
    }

    /// The list of `name` (a scalar is a list of one).
    pub fn list(&self, name: &str) -> Vec<Vec<u8>> {
        match self.vars.get(name) {
            Some(Value::List(l)) => l.clone(),
            Some(Value::Scalar(s)) => vec![s.clone()],
            None => Vec::new(),
        }
    }
}

/// An expression that could not be evaluated at run time.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The compiler guarantees binding; a name can still be unbound when the step that binds
    /// it was an alternative that did not match.
    #[error("variable {0} has no value")]
    Unbound(String),
    /// A function got a value it cannot use.
    #[error("{0}")]
    Bad(String),
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Evaluates `expr` to bytes.
pub fn eval(expr: &Expr, vars: &Bindings) -> Result<Vec<u8>, EvalError> {
    Ok(match expr {
        Expr::Var(name) => vars
            .get(name)
            .ok_or_else(|| EvalError::Unbound(name.clone()))?
            .bytes()
            .to_vec(),
        Expr::Str(s) => s.clone(),
        Expr::Int(n) => n.to_string().into_bytes(),
        Expr::Call(func, args) => {
            let a: Vec<Vec<u8>> = args
                .iter()
                .map(|e| eval(e, vars))
                .collect::<Result<_, _>>()?;
            match func {
                Func::Apop => apop::digest(&text(&a[0]), &text(&a[1])).into_bytes(),
                Func::CramMd5 => {
                    let challenge = auth::decode_base64(&text(&a[0])).map_err(|e| {
                        EvalError::Bad(format!("cram_md5: challenge is not base64: {e}"))
                    })?;
                    cram_md5::response_base64(&text(&a[1]), &challenge, &text(&a[2])).into_bytes()
                }
                Func::Base64 => auth::encode_base64(&a[0]).into_bytes(),
                Func::Plain => Plain {
                    authzid: text(&a[0]),
                    authcid: text(&a[1]),
                    passwd: text(&a[2]),
                }
                .to_base64()
                .into_bytes(),
                Func::Repeat => {
                    let n: usize = text(&a[1])
                        .parse()
                        .map_err(|_| EvalError::Bad("repeat: count is not a number".into()))?;
                    if n.saturating_mul(a[0].len()) > 1 << 20 {
                        return Err(EvalError::Bad("repeat: more than 1 MiB".into()));
                    }
                    a[0].repeat(n)
                }
                Func::Crlf => b"\r\n".to_vec(),
                Func::Lf => b"\n".to_vec(),
                Func::Cr => b"\r".to_vec(),
                Func::Nul => b"\0".to_vec(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_values() {
        let mut b = Bindings::default();
        b.set("stamp", b"<1896.697170952@dbc.mtview.ca.us>".to_vec());
        b.set("password", b"tanstaaf".to_vec());
        let e = Expr::Call(
            Func::Apop,
            vec![Expr::Var("stamp".into()), Expr::Var("password".into())],
        );
        assert_eq!(eval(&e, &b).unwrap(), b"c4c9334bac560ecc979e58001b3e22fb");
        let e = Expr::Call(
            Func::CramMd5,
            vec![
                Expr::Str(b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+".to_vec()),
                Expr::Str(b"tim".to_vec()),
                Expr::Str(b"tanstaaftanstaaf".to_vec()),
            ],
        );
        assert_eq!(
            eval(&e, &b).unwrap(),
            b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
        );
        assert!(eval(&Expr::Var("nope".into()), &b).is_err());
        b.push("n", b"1".to_vec());
        b.push("n", b"2".to_vec());
        assert_eq!(eval(&Expr::Var("n".into()), &b).unwrap(), b"2");
    }
}
