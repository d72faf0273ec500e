//! The Schema Registry and its serializers, in the shape of Confluent's libserdes: a registry
//! handle (the core's `SchemaRegistryClient` with one `DocumentCodec`), records encoded from and
//! decoded to JSON text under any schema type, and Confluent's framing on its own. Everything
//! is the core's; this module converts strings, buffers and errors.

use std::alloc::Layout;
use std::ffi::{c_char, c_int, c_void};

use ferrokafka::serde::generic::DocumentCodec;
use ferrokafka::serde::{MessageField, SerializationContext, wire};
use ferrokafka::{Schema, SchemaRegistryClient, SchemaType};

use crate::errors::fail;
use crate::{Failure, boundary, cstr, fk_resp_err_t, guard, guard_ptr, invalid, key_values, runtime};

/// A Schema Registry client with its caches and serializers (opaque). Any thread may use it,
/// several at once; fk_schema_registry_destroy must come after every other call on it has
/// returned.
pub struct fk_schema_registry_t {
    codec: DocumentCodec,
}

/// A Schema Registry client configured by `settings`, Confluent's keys: an array of key,
/// value, key, value, ... ended by NULL, e.g. {"url", "http://127.0.0.1:8081", NULL}. Keys:
/// `url` (required; several comma-separated are tried in turn), `basic.auth.user.info`
/// ("user:password"), `basic.auth.credentials.source` (USER_INFO or URL), `ssl.ca.location`,
/// `ssl.certificate.location`, `ssl.key.location`, `timeout.ms`, `cache.capacity`,
/// `cache.latest.ttl.sec`, `max.retries`, `retries.wait.ms`, `retries.max.wait.ms`. The array
/// and its strings are borrowed for the call. Nothing is sent until the first call that needs
/// the registry. The handle is the caller's: free it with fk_schema_registry_destroy. NULL on
/// failure (an unknown key or a bad value is FK_ERR__INVALID_ARG naming the key), with `errstr`
/// (and fk_last_error) saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_schema_registry_new(
    settings: *const *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> *mut fk_schema_registry_t {
    guard_ptr(errstr, errstr_size, || {
        let pairs = unsafe { key_values(settings) }?;
        let _rt = runtime()?.enter();
        let client = SchemaRegistryClient::new(pairs).map_err(fail)?;
        let codec = DocumentCodec::new(client).map_err(fail)?;
        Ok(Box::into_raw(Box::new(fk_schema_registry_t { codec })))
    })
}

/// Frees a registry handle (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_schema_registry_destroy(reg: *mut fk_schema_registry_t) {
    if !reg.is_null() {
        // SAFETY: from fk_schema_registry_new, destroyed once (header contract).
        boundary((), || drop(unsafe { Box::from_raw(reg) }));
    }
}

fn codec<'a>(reg: *const fk_schema_registry_t) -> Result<&'a DocumentCodec, Failure> {
    // SAFETY: from fk_schema_registry_new, alive for the call (header contract).
    unsafe { reg.as_ref() }.map(|r| &r.codec).ok_or_else(|| invalid("the schema registry handle is NULL"))
}

unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    unsafe { cstr(p) }.ok_or_else(|| invalid(format!("{what} is NULL or not UTF-8")))
}

/// Writes `value` to `out` when the caller gave somewhere to write it.
fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: a writable pointer from the caller, or NULL (header contract).
        unsafe { out.write(value) };
    }
}

/// Registers `schema_text` (borrowed) of `schema_type` ("AVRO", "JSON" or "PROTOBUF", any
/// case; NULL means AVRO) under `subject` (borrowed), or finds it registered already, and
/// writes its id to `*id_out` (NULL: not written). A schema that does not parse, or that the
/// subject's compatibility level refuses, is an error with the registry's answer in the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_schema_registry_register(
    reg: *const fk_schema_registry_t,
    subject: *const c_char,
    schema_type: *const c_char,
    schema_text: *const c_char,
    id_out: *mut i32,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let codec = codec(reg)?;
        let subject = unsafe { text(subject, "subject") }?;
        let schema_type = match unsafe { cstr(schema_type) } {
            None if schema_type.is_null() => SchemaType::Avro,
            None => return Err(invalid("schema_type is not UTF-8")),
            Some(t) => SchemaType::parse(t)
                .ok_or_else(|| invalid(format!("schema type {t:?} is not AVRO, JSON or PROTOBUF")))?,
        };
        let schema = Schema::new(schema_type, unsafe { text(schema_text, "schema_text") }?);
        let id = runtime()?.block_on(codec.registry().register(subject, &schema, false)).map_err(fail)?;
        put(id_out, id);
        Ok(())
    })
}

/// The latest version registered under `subject` (borrowed): its schema id to `*id_out` and its
/// version number to `*version_out` (either may be NULL: not written).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_schema_registry_latest(
    reg: *const fk_schema_registry_t,
    subject: *const c_char,
    id_out: *mut i32,
    version_out: *mut i32,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let codec = codec(reg)?;
        let subject = unsafe { text(subject, "subject") }?;
        let latest = runtime()?.block_on(codec.registry().latest(subject)).map_err(fail)?;
        put(id_out, latest.id);
        put(version_out, latest.version);
        Ok(())
    })
}

/// The schema registered as `id`: its text to `*schema_text_out` (a NUL-terminated string, the
/// caller's: free it with fk_free) and its type to `*type_out` ("AVRO", "JSON" or
/// "PROTOBUF": static, not freed). Either may be NULL (not written). An unknown id is an error
/// with the registry's answer (error code 40403) in the message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_schema_registry_schema(
    reg: *const fk_schema_registry_t,
    id: i32,
    schema_text_out: *mut *mut c_char,
    type_out: *mut *const c_char,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let codec = codec(reg)?;
        let schema = runtime()?.block_on(codec.registry().schema(id)).map_err(fail)?;
        let ty: *const c_char = match schema.schema_type {
            SchemaType::Avro => c"AVRO".as_ptr(),
            SchemaType::Json => c"JSON".as_ptr(),
            SchemaType::Protobuf => c"PROTOBUF".as_ptr(),
        };
        put(type_out, ty);
        if !schema_text_out.is_null() {
            put(schema_text_out, owned(schema.schema.as_bytes(), true).cast::<c_char>());
        }
        Ok(())
    })
}

fn field(is_key: c_int) -> MessageField {
    if is_key != 0 { MessageField::Key } else { MessageField::Value }
}

/// Encodes `json_text` (a JSON document, borrowed) as a record framed in Confluent's wire format
/// under the registered schema `schema_id`, whatever its type: Avro (the document fitted to the
/// schema: objects for records and maps, unions by their value, strings for enums and bytes),
/// JSON Schema (validated)
/// or Protobuf (Protobuf's JSON mapping of `message_name`, fully qualified or relative to the
/// file's package; NULL: the file's first message; ignored for the other types). `topic` (borrowed) and `is_key` (nonzero for
/// a key) name what the bytes are for, as in error messages. The bytes go to `*out` and their
/// length to `*out_len`: the caller's, freed with fk_free. A document that does not fit the
/// schema, or is not JSON, is FK_ERR__VALUE_SERIALIZATION (FK_ERR__KEY_SERIALIZATION for a key)
/// with a message naming the field; an unknown schema id is an error with the registry's answer.
/// Each schema is fetched and compiled once per handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_serde_encode_json(
    reg: *const fk_schema_registry_t,
    schema_id: i32,
    json_text: *const c_char,
    message_name: *const c_char,
    topic: *const c_char,
    is_key: c_int,
    out: *mut *mut u8,
    out_len: *mut usize,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let codec = codec(reg)?;
        let topic = unsafe { text(topic, "topic") }?;
        let json = unsafe { text(json_text, "json_text") }?;
        let message = if message_name.is_null() { None } else { Some(unsafe { text(message_name, "message_name") }?) };
        if out.is_null() || out_len.is_null() {
            return Err(invalid("out and out_len must not be NULL"));
        }
        let ctx = SerializationContext::new(topic, field(is_key));
        let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            fail(ferrokafka::Error::Serialization {
                field: ctx.field,
                deserializing: false,
                topic: topic.to_owned(),
                reason: format!("the document is not JSON: {e}"),
            })
        })?;
        let bytes = runtime()?.block_on(codec.encode(schema_id, &doc, message, &ctx)).map_err(fail)?;
        put(out_len, bytes.len());
        put(out, owned(&bytes, false));
        Ok(())
    })
}

/// Decodes a record framed in Confluent's wire format (`len` bytes at `bytes`, borrowed), whatever
/// its schema's type, into a JSON document: the text (NUL-terminated, the caller's: free it with
/// fk_free) to `*json_out`, the schema id from the frame to `*schema_id_out` (NULL: not
/// written). Avro comes out with unions by their value, enums by their symbol and bytes as
/// strings of the code points 0-255; Protobuf as its JSON mapping. `topic` and `is_key` as for fk_serde_encode_json. Bytes that are not a framed
/// record of their schema are FK_ERR__VALUE_DESERIALIZATION (FK_ERR__KEY_DESERIALIZATION for a
/// key) saying why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_serde_decode_json(
    reg: *const fk_schema_registry_t,
    bytes: *const u8,
    len: usize,
    topic: *const c_char,
    is_key: c_int,
    json_out: *mut *mut c_char,
    schema_id_out: *mut i32,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let codec = codec(reg)?;
        let topic = unsafe { text(topic, "topic") }?;
        let bytes = unsafe { borrowed(bytes, len) }?;
        if json_out.is_null() {
            return Err(invalid("json_out must not be NULL"));
        }
        let ctx = SerializationContext::new(topic, field(is_key));
        let (id, doc) = runtime()?.block_on(codec.decode(bytes, &ctx)).map_err(fail)?;
        put(json_out, owned(doc.to_string().as_bytes(), true).cast::<c_char>());
        put(schema_id_out, id);
        Ok(())
    })
}

/// Frames `len` bytes of an encoded payload (borrowed; NULL is fine when `len` is 0) in
/// Confluent's wire format: magic byte 0, `schema_id` as 4 big-endian bytes, the payload. For
/// Protobuf the payload starts with the message-index path. The frame goes to `*out` with its
/// length in `*out_len`: the caller's, freed with fk_free.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_serde_frame(
    schema_id: i32,
    payload: *const u8,
    len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let payload = unsafe { borrowed(payload, len) }?;
        if out.is_null() || out_len.is_null() {
            return Err(invalid("out and out_len must not be NULL"));
        }
        let mut framed = wire::header(schema_id, payload.len());
        framed.extend_from_slice(payload);
        put(out_len, framed.len());
        put(out, owned(&framed, false));
        Ok(())
    })
}

/// Reads the frame of `len` bytes at `bytes` (borrowed): the schema id to `*schema_id_out` and
/// where the payload starts, an offset into `bytes`, to `*payload_offset_out` (either may be
/// NULL). Bytes that are not framed (no magic byte 0, too short) are FK_ERR__INVALID_ARG saying
/// why.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_serde_unframe(
    bytes: *const u8,
    len: usize,
    schema_id_out: *mut i32,
    payload_offset_out: *mut usize,
    errstr: *mut c_char,
    errstr_size: usize,
) -> fk_resp_err_t {
    guard(errstr, errstr_size, || {
        let bytes = unsafe { borrowed(bytes, len) }?;
        let (id, payload) = wire::split(bytes).map_err(|e| invalid(format!("not a framed record: {e}")))?;
        put(schema_id_out, id);
        put(payload_offset_out, bytes.len() - payload.len());
        Ok(())
    })
}

/// Frees a string or buffer the library returned to the caller (from fk_schema_registry_schema,
/// fk_serde_encode_json, fk_serde_decode_json, fk_serde_frame). NULL is fine. Nothing else may
/// be given to it, and what it is given must not be given to free().
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fk_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    boundary((), || {
        // SAFETY: `p` came from `owned` (header contract): HEADER bytes before it hold the
        // allocation's size, and its layout is that size with ALIGN.
        unsafe {
            let base = p.cast::<u8>().sub(HEADER);
            let size = base.cast::<usize>().read();
            std::alloc::dealloc(base, Layout::from_size_align_unchecked(size, ALIGN));
        }
    })
}

/// Bytes before each buffer given to C, holding the allocation's size, so fk_free needs only
/// the pointer.
const HEADER: usize = 16;
const ALIGN: usize = 16;

/// A copy of `bytes` (and a NUL after them when `nul`) the caller frees with fk_free.
fn owned(bytes: &[u8], nul: bool) -> *mut u8 {
    let size = HEADER + bytes.len() + usize::from(nul);
    let layout = Layout::from_size_align(size, ALIGN).expect("a buffer's layout");
    // SAFETY: the layout has a nonzero size; every write below is within it.
    unsafe {
        let base = std::alloc::alloc(layout);
        if base.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        base.cast::<usize>().write(size);
        let data = base.add(HEADER);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
        if nul {
            data.add(bytes.len()).write(0);
        }
        data
    }
}

/// `len` bytes at `p`, borrowed from C for the call; NULL only when `len` is 0.
unsafe fn borrowed<'a>(p: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid(format!("the buffer is NULL with a length of {len}")));
    }
    // SAFETY: `len` readable bytes at `p` for the call (header contract).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_unframe_and_free() {
        let (mut out, mut len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: valid pointers to locals; `out` is freed with fk_free.
        unsafe {
            assert_eq!(fk_serde_frame(258, b"abc".as_ptr(), 3, &mut out, &mut len, std::ptr::null_mut(), 0), 0);
            assert_eq!(std::slice::from_raw_parts(out, len), [0, 0, 0, 1, 2, b'a', b'b', b'c']);
            let (mut id, mut offset) = (0, 0usize);
            assert_eq!(fk_serde_unframe(out, len, &mut id, &mut offset, std::ptr::null_mut(), 0), 0);
            assert_eq!((id, offset), (258, 5));
            fk_free(out.cast());
            assert_eq!(
                fk_serde_unframe([1u8, 0, 0, 0, 1].as_ptr(), 5, &mut id, &mut offset, std::ptr::null_mut(), 0),
                crate::FK_ERR__INVALID_ARG
            );
            assert_eq!(fk_serde_frame(1, std::ptr::null(), 0, &mut out, &mut len, std::ptr::null_mut(), 0), 0);
            assert_eq!(len, 5);
            fk_free(out.cast());
            fk_free(std::ptr::null_mut());
        }
    }
}
