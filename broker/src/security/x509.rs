//! Just enough DER to read a certificate's subject distinguished name, for the principal of
//! a mutual-TLS client (Kafka's default mapping: `User:` + the RFC 2253 subject).

/// One DER element: (tag, contents, rest of input).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    // 2.5.4.x, encoded 55 04 x.
    match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        _ => None,
    }
}

/// The subject DN, most specific first (`CN=alice,O=Example`), or None if unreadable.
pub(crate) fn subject_dn(cert: &[u8]) -> Option<String> {
    let (tag, cert, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    // version [0] (optional), serial, signature algorithm, issuer, validity, subject.
    let mut fields = Vec::new();
    while let Some((tag, body, rest)) = element(tbs) {
        fields.push((tag, body));
        tbs = rest;
        if fields.len() == 7 {
            break;
        }
    }
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (tag, mut subject) = *fields.get(skip + 4)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut parts = Vec::new();
    while let Some((tag, mut rdn, rest)) = element(subject) {
        subject = rest;
        if tag != SET {
            return None;
        }
        while let Some((_, atv, rest)) = element(rdn) {
            rdn = rest;
            let (tag, oid, value) = element(atv)?;
            let (_, value, _) = element(value)?;
            if tag != OID {
                return None;
            }
            let name = attribute_name(oid)?;
            let value = std::str::from_utf8(value).ok()?;
            // RFC 2253 escaping of the characters that would change the DN's structure.
            let mut escaped = String::with_capacity(value.len());
            for ch in value.chars() {
                if matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
                    escaped.push('\\');
                }
                escaped.push(ch);
            }
            parts.push(format!("{name}={escaped}"));
        }
    }
    if parts.is_empty() {
        return None;
    }
    parts.reverse();
    Some(parts.join(","))
}
