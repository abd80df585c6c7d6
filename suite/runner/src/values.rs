//! Values bound while a case runs, and the evaluation of scenario expressions.

use std::collections::HashMap;

use pop3_proto::auth::{self, apop, cram_md5, oauth, plain::Plain, scram};
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

fn decode(b64: &[u8], what: &str) -> Result<Vec<u8>, EvalError> {
    auth::decode_base64(&text(b64))
        .map_err(|e| EvalError::Bad(format!("{what} is not base64: {e}")))
}

/// `scram_client_final` and `scram_server_signature`: mechanism, client-first (base64),
/// password, server-first (base64). The server's nonce is taken as it is, without checking
/// that it extends the client's: a case asserts that itself.
fn scram_final(a: &[Vec<u8>]) -> Result<scram::ClientFinal, EvalError> {
    let bad = |m: String| EvalError::Bad(m);
    let mech = scram::Mechanism::from_name(&text(&a[0]))
        .ok_or_else(|| bad(format!("not a SCRAM mechanism: {}", text(&a[0]))))?;
    let first = decode(&a[1], "the client-first-message")?;
    let first = scram::ClientFirst::parse(&first)
        .map_err(|e| bad(format!("the client-first-message: {e}")))?;
    let server_first = decode(&a[3], "the server-first-message")?;
    let sf = scram::ServerFirst::parse(&server_first)
        .map_err(|e| bad(format!("the server-first-message: {e}")))?;
    if sf.iterations > scram::MAX_ITERATIONS {
        return Err(bad(format!(
            "the server asks for {} iterations (more than {})",
            sf.iterations,
            scram::MAX_ITERATIONS
        )));
    }
    let client = scram::Client {
        mechanism: mech,
        first,
        // the `_cb` functions' fifth argument: the channel's binding data (RFC 5802 §6)
        cbind_data: a.get(4).cloned().unwrap_or_default(),
    };
    Ok(client.final_message(&text(&a[2]), &sf))
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
                Func::ScramClientFirst => {
                    let (header, user, nonce) = (text(&a[0]), text(&a[1]), text(&a[2]));
                    let bare = format!("n={},r={nonce}", scram::escape_saslname(&user));
                    auth::encode_base64(format!("{header}{bare}").as_bytes()).into_bytes()
                }
                Func::ScramClientFinal
                | Func::ScramServerSignature
                | Func::ScramClientFinalCb
                | Func::ScramServerSignatureCb => {
                    let fin = scram_final(&a)?;
                    if matches!(func, Func::ScramClientFinal | Func::ScramClientFinalCb) {
                        auth::encode_base64(fin.message.as_bytes()).into_bytes()
                    } else {
                        fin.server_signature.into_bytes()
                    }
                }
                Func::ScramAttr => {
                    let message = decode(&a[0], "scram_attr: the message")?;
                    let name = format!("{}=", text(&a[1]));
                    let message = text(&message);
                    message
                        .split(',')
                        .find_map(|attr| attr.strip_prefix(name.as_str()))
                        .unwrap_or_default()
                        .as_bytes()
                        .to_vec()
                }
                Func::OAuthBearer | Func::OAuthBearerKv => {
                    let mut m = oauth::oauthbearer_message(&text(&a[0]), &text(&a[1]), &[]);
                    if let Some(pairs) = a.get(2) {
                        // the pairs go after the GS2 header's kvsep, before auth=
                        let at = m
                            .iter()
                            .position(|&b| b == oauth::KVSEP)
                            .map_or(0, |i| i + 1);
                        m.splice(at..at, pairs.iter().copied());
                    }
                    auth::encode_base64(&m).into_bytes()
                }
                Func::Xoauth2 => {
                    auth::encode_base64(&oauth::xoauth2_message(&text(&a[0]), &text(&a[1])))
                        .into_bytes()
                }
                Func::OAuthStatus => {
                    let json = decode(&a[0], "oauth_status: the challenge")?;
                    oauth::ErrorResult::parse(&json)
                        .map_err(|e| {
                            EvalError::Bad(format!(
                                "oauth_status: {e} in {}",
                                client::printable(&json)
                            ))
                        })?
                        .status
                        .into_bytes()
                }
                Func::Prefix => {
                    let n: usize = text(&a[1])
                        .parse()
                        .map_err(|_| EvalError::Bad("prefix: length is not a number".into()))?;
                    text(&a[0]).chars().take(n).collect::<String>().into_bytes()
                }
                Func::Min => {
                    let num = |b: &[u8]| {
                        text(b).parse::<u64>().map_err(|_| {
                            EvalError::Bad(format!("min: {} is not a number", client::printable(b)))
                        })
                    };
                    num(&a[0])?.min(num(&a[1])?).to_string().into_bytes()
                }
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

    /// RFC 7628 §4.1's initial client response and §4.3's error result, through the
    /// scenario functions; Google's XOAUTH2 example.
    #[test]
    fn oauth_functions() {
        let b = Bindings::default();
        let s = |t: &str| Expr::Str(t.as_bytes().to_vec());
        let call = |f, args| Expr::Call(f, args);
        let token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
        let kv = call(
            Func::OAuthBearerKv,
            vec![
                s("user@example.com"),
                s(token),
                s("host=server.example.com\x01port=143\x01"),
            ],
        );
        assert_eq!(
            eval(&kv, &b).unwrap(),
            b"bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
        );
        let plain = call(Func::OAuthBearer, vec![s("user@example.com"), s(token)]);
        let decoded = auth::decode_base64(&text(&eval(&plain, &b).unwrap())).unwrap();
        assert_eq!(
            decoded,
            b"n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        let x = call(
            Func::Xoauth2,
            vec![
                s("someuser@example.com"),
                s("ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg"),
            ],
        );
        assert_eq!(
            eval(&x, &b).unwrap(),
            b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
        let status = |c: &str| eval(&call(Func::OAuthStatus, vec![s(c)]), &b);
        let rfc = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";
        assert_eq!(status(rfc).unwrap(), b"invalid_token");
        // not base64, not JSON, no status: the case fails at its step
        for bad in ["!!", "aW52YWxpZF90b2tlbg==", "e30="] {
            assert!(status(bad).is_err(), "{bad}");
        }
    }

    /// RFC 7677 §3's exchange, through the scenario functions.
    #[test]
    fn scram_functions() {
        let b = Bindings::default();
        let s = |t: &str| Expr::Str(t.as_bytes().to_vec());
        let call = |f, args| Expr::Call(f, args);
        let b64 = |t: &str| s(&auth::encode_base64(t.as_bytes()));
        let first = call(
            Func::ScramClientFirst,
            vec![s("n,,"), s("user"), s("rOprNGfwEbeRWgbNEkqO")],
        );
        assert_eq!(
            eval(&first, &b).unwrap(),
            auth::encode_base64(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").as_bytes()
        );
        let server_first = b64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let args = vec![s("SCRAM-SHA-256"), first, s("pencil"), server_first.clone()];
        assert_eq!(
            eval(&call(Func::ScramClientFinal, args.clone()), &b).unwrap(),
            auth::encode_base64(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").as_bytes()
        );
        assert_eq!(
            eval(&call(Func::ScramServerSignature, args), &b).unwrap(),
            b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let attr = |name: &str| call(Func::ScramAttr, vec![server_first.clone(), s(name)]);
        assert_eq!(eval(&attr("i"), &b).unwrap(), b"4096");
        assert_eq!(eval(&attr("x"), &b).unwrap(), b"");
        let r = eval(&attr("r"), &b).unwrap();
        let prefix = call(
            Func::Prefix,
            vec![s(&String::from_utf8(r).unwrap()), Expr::Int(20)],
        );
        assert_eq!(eval(&prefix, &b).unwrap(), b"rOprNGfwEbeRWgbNEkqO");
        let min = call(Func::Min, vec![attr("i"), Expr::Int(4096)]);
        assert_eq!(eval(&min, &b).unwrap(), b"4096");
        let min = call(Func::Min, vec![s("1024"), Expr::Int(4096)]);
        assert_eq!(eval(&min, &b).unwrap(), b"1024");
        assert!(eval(&call(Func::Min, vec![s("x"), Expr::Int(1)]), &b).is_err());
        assert!(eval(&call(Func::ScramAttr, vec![s("!!"), s("r")]), &b).is_err());
    }
}
