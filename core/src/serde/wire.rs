//! Confluent's wire format: magic byte 0, the schema id as 4 big-endian bytes, then (Protobuf
//! only) the message-index path, then the encoded payload.

/// The first byte of every framed record.
pub const MAGIC: u8 = 0;

/// Starts a framed record: magic byte and schema id, with room for `payload` more bytes.
pub fn header(schema_id: i32, payload: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload);
    out.push(MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out
}

/// A framed record's schema id and what follows it.
pub fn split(bytes: &[u8]) -> Result<(i32, &[u8]), String> {
    match bytes {
        [MAGIC, a, b, c, d, rest @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [] => Err("empty: no magic byte and schema id".to_owned()),
        [m, ..] if *m != MAGIC => Err(format!("unknown magic byte {m} (Confluent's wire format starts with 0)")),
        _ => Err(format!("{} bytes are too short for a magic byte and a schema id", bytes.len())),
    }
}

fn put_varint(out: &mut Vec<u8>, value: i32) {
    // Zig-zag, as Confluent writes the indexes.
    let mut v = ((value << 1) ^ (value >> 31)) as u32;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Result<i32, String> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        let Some((&b, rest)) = bytes.split_first() else {
            return Err("the message-index path is cut short".to_owned());
        };
        *bytes = rest;
        v |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(((v >> 1) as i32) ^ -((v & 1) as i32));
        }
    }
    Err("a message index is longer than 5 bytes".to_owned())
}

/// Writes a Protobuf message-index path: the message's position among its file's top-level
/// messages, then within each enclosing message. The first top-level message (`[0]`) is
/// written as the single byte 0, as Confluent's serializers do.
pub fn put_message_indexes(out: &mut Vec<u8>, indexes: &[i32]) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    put_varint(out, indexes.len() as i32);
    for &i in indexes {
        put_varint(out, i);
    }
}

/// Reads a Protobuf message-index path; the path and the payload after it.
pub fn message_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8]), String> {
    let mut rest = bytes;
    let count = get_varint(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if !(0..=256).contains(&count) {
        return Err(format!("a message-index path of {count} entries"));
    }
    let mut indexes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let i = get_varint(&mut rest)?;
        if i < 0 {
            return Err(format!("a negative message index {i}"));
        }
        indexes.push(i);
    }
    Ok((indexes, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips() {
        let mut out = header(258, 3);
        out.extend_from_slice(b"abc");
        assert_eq!(out, [0, 0, 0, 1, 2, b'a', b'b', b'c']);
        assert_eq!(split(&out).unwrap(), (258, &b"abc"[..]));
        assert!(split(&[1, 0, 0, 0, 1]).unwrap_err().contains("magic byte 1"));
        assert!(split(&[0, 0, 1]).is_err());
        assert!(split(&[]).is_err());
    }

    #[test]
    fn message_indexes_round_trip() {
        for path in [vec![0], vec![1], vec![0, 2], vec![3, 0, 70]] {
            let mut out = Vec::new();
            put_message_indexes(&mut out, &path);
            out.push(0xee);
            let (read, rest) = message_indexes(&out).unwrap();
            assert_eq!((read, rest), (path, &[0xee][..]));
        }
        let mut out = Vec::new();
        put_message_indexes(&mut out, &[0]);
        assert_eq!(out, [0]);
        put_message_indexes(&mut out, &[1]);
        assert_eq!(&out[1..], [2, 2]);
        assert!(message_indexes(&[0x80]).is_err());
        assert!(message_indexes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(message_indexes(&[3, 2]).is_err());
    }
}
