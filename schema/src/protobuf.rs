//! Protobuf schemas, as `.proto` text or as the base64 `FileDescriptorProto` that
//! confluent-kafka-python's `ProtobufSerializer` registers; both compiled by `protox` (imports
//! resolved from the references and Google's well-known types). Compatibility follows
//! Confluent's rules for the difference from the writer's file to the reader's: a message
//! removed or renamed, a field's kind, scalar type or named type changed, a field between
//! singular and repeated, a required field added or removed, a package changed, a field of a
//! oneof removed, fields moved into a oneof are incompatible; added or removed optional fields,
//! renamed fields and enum constants are not.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use prost_reflect::{Cardinality, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use prost_types::FileDescriptorProto;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::{ResolvedReference, SchemaType};

/// Deepest `{` nesting accepted in `.proto` text (the parser recurses on it).
const MAX_NESTING: usize = 64;
/// The name a schema given as text compiles under, when it names no file itself.
const MAIN_FILE: &str = "schema-registry-subject.proto";

#[derive(Debug, Clone)]
pub struct ProtoSchema {
    /// Base64 of the file's descriptor without its name, source info and JSON names: the same
    /// for the `.proto` text and the serialized descriptor of one file.
    canonical: String,
    /// Base64 of the file's descriptor, as `?format=serialized` answers.
    serialized: String,
    file: FileDescriptor,
}

struct MemoryResolver(HashMap<String, File>);

impl FileResolver for MemoryResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.0.get(name).cloned().ok_or_else(|| protox::Error::file_not_found(name))
    }
}

/// `text` as a serialized `FileDescriptorProto` (base64), if it is one.
fn as_descriptor(text: &str) -> Option<FileDescriptorProto> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    FileDescriptorProto::decode(bytes.as_slice()).ok()
}

fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'{' | b'<' | b'(' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b'>' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn to_file(name: &str, text: &str) -> Result<File, String> {
    if let Some(mut descriptor) = as_descriptor(text) {
        descriptor.name = Some(name.to_owned());
        return Ok(File::from_file_descriptor_proto(descriptor));
    }
    if nesting_depth(text) > MAX_NESTING {
        return Err(format!("{name}: nested deeper than {MAX_NESTING} levels"));
    }
    File::from_source(name, text).map_err(|e| format!("{name}: {e}"))
}

impl ProtoSchema {
    pub fn parse(text: &str, references: &[ResolvedReference]) -> Result<Self, String> {
        let mut files = HashMap::new();
        for r in references {
            if r.schema_type != SchemaType::Protobuf {
                return Err(format!("reference {} is a {} schema, not PROTOBUF", r.name, r.schema_type.name()));
            }
            files.insert(r.name.clone(), to_file(&r.name, &r.text)?);
        }
        let mut main = as_descriptor(text).and_then(|d| d.name).filter(|n| !n.is_empty() && !files.contains_key(n));
        let main = main.take().unwrap_or_else(|| MAIN_FILE.to_owned());
        files.insert(main.clone(), to_file(&main, text)?);
        let mut resolver = ChainFileResolver::new();
        resolver.add(MemoryResolver(files));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true).include_source_info(false);
        compiler.open_file(&main).map_err(|e| e.to_string())?;
        let file = compiler.descriptor_pool().get_file_by_name(&main).ok_or("the file did not compile")?;
        let mut proto = FileDescriptorProto { source_code_info: None, ..file.file_descriptor_proto().clone() };
        if proto.name.as_deref() == Some(MAIN_FILE) {
            proto.name = None;
        }
        let serialized = STANDARD.encode(proto.encode_to_vec());
        proto.name = None;
        for message in &mut proto.message_type {
            clear_json_names(message);
        }
        let canonical = STANDARD.encode(proto.encode_to_vec());
        Ok(ProtoSchema { canonical, serialized, file })
    }

    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    pub fn serialized(&self) -> &str {
        &self.serialized
    }

    /// The compiled file, its imports in its pool.
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }

    pub fn read_problems(&self, writer: &ProtoSchema) -> Vec<String> {
        let mut problems = Vec::new();
        if self.file.package_name() != writer.file.package_name() {
            problems.push(format!(
                "package changed from '{}' to '{}'",
                writer.file.package_name(),
                self.file.package_name()
            ));
        }
        let reader_messages = messages(&self.file);
        for (name, w) in messages(&writer.file) {
            match reader_messages.get(&name) {
                None => problems.push(format!("message {name} was removed or renamed")),
                Some(r) => compare_message(r, &w, &mut problems),
            }
        }
        problems
    }
}

fn clear_json_names(message: &mut prost_types::DescriptorProto) {
    for field in &mut message.field {
        field.json_name = None;
    }
    for nested in &mut message.nested_type {
        clear_json_names(nested);
    }
}

/// Every message of `file` (nested ones too, map entries aside) by full name.
fn messages(file: &FileDescriptor) -> BTreeMap<String, MessageDescriptor> {
    fn walk(m: MessageDescriptor, out: &mut BTreeMap<String, MessageDescriptor>) {
        for child in m.child_messages() {
            walk(child, out);
        }
        if !m.is_map_entry() {
            out.insert(m.full_name().to_owned(), m);
        }
    }
    let mut out = BTreeMap::new();
    for m in file.messages() {
        walk(m, &mut out);
    }
    out
}

fn kind_name(kind: &Kind) -> (&'static str, String) {
    match kind {
        Kind::Message(m) => ("message", m.full_name().to_owned()),
        Kind::Enum(e) => ("enum", e.full_name().to_owned()),
        scalar => (scalar_name(scalar), String::new()),
    }
}

fn scalar_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(_) => "message",
        Kind::Enum(_) => "enum",
    }
}

/// The oneof a field belongs to, proto3 `optional`'s synthetic ones aside.
fn oneof(field: &FieldDescriptor) -> Option<String> {
    field.containing_oneof().filter(|o| !o.is_synthetic()).map(|o| o.name().to_owned())
}

fn compare_message(r: &MessageDescriptor, w: &MessageDescriptor, problems: &mut Vec<String>) {
    let name = w.full_name();
    let w_oneofs: Vec<String> = w.oneofs().filter(|o| !o.is_synthetic()).map(|o| o.name().to_owned()).collect();
    let mut moved_to_new_oneof: HashMap<String, usize> = HashMap::new();
    for wf in w.fields() {
        let number = wf.number();
        let Some(rf) = r.get_field(number) else {
            if wf.cardinality() == Cardinality::Required {
                problems.push(format!("{name}: required field {} (number {number}) was removed", wf.name()));
            } else if oneof(&wf).is_some() {
                problems.push(format!("{name}: field {} (number {number}) of a oneof was removed", wf.name()));
            }
            continue;
        };
        let (wk, rk) = (kind_name(&wf.kind()), kind_name(&rf.kind()));
        let at = format!("{name}: field {} (number {number})", rf.name());
        if wk.0 != rk.0 {
            let scalar = |k: &str| k != "message" && k != "enum";
            if scalar(wk.0) && scalar(rk.0) {
                problems.push(format!("{at}: scalar type changed from {} to {}", wk.0, rk.0));
            } else {
                problems.push(format!("{at}: kind changed from {} to {}", wk.0, rk.0));
            }
        } else if wk.1 != rk.1 {
            problems.push(format!("{at}: type changed from {} to {}", wk.1, rk.1));
        }
        if wf.is_map() != rf.is_map() || wf.is_list() != rf.is_list() {
            problems.push(format!("{at}: changed between singular, repeated and map"));
        }
        if rf.cardinality() == Cardinality::Required && wf.cardinality() != Cardinality::Required {
            problems.push(format!("{at}: became required"));
        }
        if let (None, Some(o)) = (oneof(&wf), oneof(&rf)) {
            if w_oneofs.contains(&o) {
                problems.push(format!("{at}: moved into the existing oneof {o}"));
            } else {
                *moved_to_new_oneof.entry(o).or_default() += 1;
            }
        }
    }
    for (o, count) in moved_to_new_oneof {
        if count > 1 {
            problems.push(format!("{name}: {count} existing fields moved into the new oneof {o}"));
        }
    }
    for rf in r.fields().filter(|f| w.get_field(f.number()).is_none()) {
        if rf.cardinality() == Cardinality::Required {
            problems.push(format!("{name}: required field {} (number {}) was added", rf.name(), rf.number()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_descriptor_of_one_file_are_the_same_schema() {
        let text = "syntax = \"proto3\";\npackage t;\nmessage User { string name = 1; int64 age = 2; }\n";
        let a = ProtoSchema::parse(text, &[]).unwrap();
        let b = ProtoSchema::parse(a.serialized(), &[]).unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert!(ProtoSchema::parse("syntax = \"proto3\"; message {", &[]).is_err());
        assert!(ProtoSchema::parse(&"message A {".repeat(10_000), &[]).is_err());
    }

    #[test]
    fn well_known_imports_and_references_resolve() {
        let dep = ResolvedReference {
            name: "common/money.proto".into(),
            schema_type: SchemaType::Protobuf,
            text: "syntax = \"proto3\"; package common; message Money { int64 cents = 1; }".into(),
        };
        let text = "syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\"; import \"common/money.proto\";\n\
                    message Order { google.protobuf.Timestamp at = 1; common.Money total = 2; }";
        ProtoSchema::parse(text, &[dep]).unwrap();
    }
}
