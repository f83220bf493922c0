//! JSON encoding with a faster string escaper: the same bytes as `serde_json::to_vec`.
//!
//! serde_json escapes a string one byte at a time (about 10 instructions a byte under
//! callgrind), which made writing a long conversation for the upstream the largest cost of a
//! big request: 0.68 M of the 2.0 M instructions a 65 KB chat request took (BENCHMARKS.md,
//! issue #20). [`write_str`] looks at eight bytes at a time and copies runs that need no
//! escape whole; it writes string map keys too. Everything else is serde_json's own:
//! numbers, `null` for a non-finite float, other keys, the escapes it writes, and the
//! brackets, commas and colons of its compact form, so the output is byte for byte what
//! `serde_json::to_vec` gives (tested against it on every wire type and on arbitrary values).

use serde::ser::{self, Serialize};

type Error = serde_json::Error;
type Result<T = ()> = std::result::Result<T, Error>;

/// `value` as compact JSON, as `serde_json::to_vec` writes it.
pub fn to_vec<T: ?Sized + Serialize>(value: &T) -> Result<Vec<u8>> {
    to_vec_sized(value, 0)
}

/// The same, written into a buffer made for about `expected` bytes (a body of 75 KB grown
/// from nothing is copied about ten times as it doubles).
pub fn to_vec_sized<T: ?Sized + Serialize>(value: &T, expected: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(expected.saturating_add(expected / 16).max(128));
    write(&mut out, value)?;
    Ok(out)
}

/// `value` as compact JSON text, as `serde_json::to_string` (and a `Value`'s `Display`) writes
/// it. For a `Value` it cannot fail.
pub fn to_string<T: ?Sized + Serialize>(value: &T) -> Result<String> {
    // Strings are written from `&str` and everything else is ASCII: always UTF-8.
    String::from_utf8(to_vec(value)?).map_err(ser::Error::custom)
}

/// Append `value` as compact JSON to `out`.
pub fn write<T: ?Sized + Serialize>(out: &mut Vec<u8>, value: &T) -> Result {
    value.serialize(&mut Encoder { out })
}

/// The name under which `serde_json::value::RawValue` asks to be written as it is. Private to
/// serde_json; a test fails if it ever changes.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// A byte of a string that JSON requires escaped: `"`, `\` and the control characters.
fn needs_escape(b: u8) -> bool {
    ESCAPES[usize::from(b)] != 0
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The high bit of each byte of `w` (bytes in little-endian order) that may need an escape.
/// The lowest bit set is exact: it marks the first byte below 0x20 (subtracting 0x20 borrows
/// into its high bit), or the first `"` or `\` (zero after an XOR). A borrow only runs
/// upwards, so bits above the first may be false; only the first is used.
fn escape_bits(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    below_space | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
}

/// Where the first byte from `i` on that needs an escape is, or `bytes.len()`: eight bytes at
/// a time, then one by one for the last few.
fn next_escape(bytes: &[u8], mut i: usize) -> usize {
    while let Some(word) = bytes.get(i..i + 8) {
        let bits = escape_bits(u64::from_le_bytes(word.try_into().unwrap_or([0; 8])));
        if bits == 0 {
            i += 8;
            continue;
        }
        let at = i + (bits.trailing_zeros() / 8) as usize;
        if needs_escape(bytes[at]) {
            return at;
        }
        // Not reachable by the argument on `escape_bits`; were it, scanning on stays right.
        i = at + 1;
    }
    while i < bytes.len() && !needs_escape(bytes[i]) {
        i += 1;
    }
    i
}

/// `s` as a JSON string, quotes included, with serde_json's escapes: `\"`, `\\`, `\b`, `\f`,
/// `\n`, `\r`, `\t`, and `\u00XX` (lower-case hex) for the other control characters. The
/// runs between escapes are copied whole.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // bytes[start..] are not written yet.
    let mut start = 0;
    loop {
        let at = next_escape(bytes, start);
        out.extend_from_slice(&bytes[start..at]);
        let Some(&b) = bytes.get(at) else { break };
        escape(out, b);
        start = at + 1;
    }
    out.push(b'"');
}

/// The letter after the backslash for each byte that needs an escape (`u` for `\u00XX`).
const ESCAPES: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

#[inline]
fn escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPES[usize::from(b)] {
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
        letter => out.extend_from_slice(&[b'\\', letter]),
    }
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    /// A scalar written by serde_json itself, so that numbers read exactly as it writes them.
    fn by_serde_json(
        &mut self,
        f: impl FnOnce(&mut serde_json::Serializer<&mut Vec<u8>>) -> Result,
    ) -> Result {
        f(&mut serde_json::Serializer::new(&mut *self.out))
    }
}

/// An array or object being written; `first` until its first element.
struct Compound<'e, 'a> {
    enc: &'e mut Encoder<'a>,
    first: bool,
    /// What closes it: `]`, `}`, or `]}` / `}}` for a variant's.
    close: &'static [u8],
    /// Writing a `RawValue`: its one field is the text to write as it is.
    raw: bool,
}

impl<'e, 'a> Compound<'e, 'a> {
    fn open(enc: &'e mut Encoder<'a>, open: u8, close: &'static [u8]) -> Self {
        enc.out.push(open);
        Compound { enc, first: true, close, raw: false }
    }

    fn comma(&mut self) {
        if !self.first {
            self.enc.out.push(b',');
        }
        self.first = false;
    }

    fn entry<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> Result {
        self.comma();
        write_str(self.enc.out, key);
        self.enc.out.push(b':');
        value.serialize(&mut *self.enc)
    }

    fn finish(self) -> Result {
        if !self.raw {
            self.enc.out.extend_from_slice(self.close);
        }
        Ok(())
    }
}

impl<'e, 'a> ser::Serializer for &'e mut Encoder<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'e, 'a>;
    type SerializeTuple = Compound<'e, 'a>;
    type SerializeTupleStruct = Compound<'e, 'a>;
    type SerializeTupleVariant = Compound<'e, 'a>;
    type SerializeMap = Compound<'e, 'a>;
    type SerializeStruct = Compound<'e, 'a>;
    type SerializeStructVariant = Compound<'e, 'a>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result {
        self.by_serde_json(|s| ser::Serializer::serialize_i64(s, v))
    }

    fn serialize_i128(self, v: i128) -> Result {
        self.by_serde_json(|s| ser::Serializer::serialize_i128(s, v))
    }

    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result {
        self.by_serde_json(|s| ser::Serializer::serialize_u64(s, v))
    }

    fn serialize_u128(self, v: u128) -> Result {
        self.by_serde_json(|s| ser::Serializer::serialize_u128(s, v))
    }

    fn serialize_f32(self, v: f32) -> Result {
        self.by_serde_json(|s| ser::Serializer::serialize_f32(s, v))
    }

    fn serialize_f64(self, v: f64) -> Result {
        self.by_serde_json(|s| ser::Serializer::serialize_f64(s, v))
    }

    fn serialize_char(self, v: char) -> Result {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.by_serde_json(|s| ser::Serializer::serialize_bytes(s, v))
    }

    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        let mut obj = Compound::open(self, b'{', b"}");
        obj.entry(variant, value)?;
        obj.finish()
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'e, 'a>> {
        Ok(Compound::open(self, b'[', b"]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'e, 'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'e, 'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'e, 'a>> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        Ok(Compound::open(self, b'[', b"]}"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'e, 'a>> {
        Ok(Compound::open(self, b'{', b"}"))
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'e, 'a>> {
        if name == RAW_VALUE {
            return Ok(Compound { enc: self, first: true, close: b"", raw: true });
        }
        Ok(Compound::open(self, b'{', b"}"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'e, 'a>> {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        Ok(Compound::open(self, b'{', b"}}"))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.comma();
        value.serialize(&mut *self.enc)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        self.comma();
        write_key(self.enc.out, key)?;
        self.enc.out.push(b':');
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        value.serialize(&mut *self.enc)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        if self.raw {
            // serde_json's RawValue hands over its text as this field: serde_json writes it.
            let mut json = serde_json::Serializer::new(&mut *self.enc.out);
            let mut raw = ser::Serializer::serialize_struct(&mut json, RAW_VALUE, 1)?;
            ser::SerializeStruct::serialize_field(&mut raw, key, value)?;
            return ser::SerializeStruct::end(raw);
        }
        self.entry(key, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.entry(key, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

/// A map key (of a `Value` object or a map field). A string, nearly always, is written here;
/// anything else by serde_json's own key writer, which alone knows which other keys it takes
/// (numbers, booleans, unit variants) and how it writes them.
fn write_key<T: ?Sized + Serialize>(out: &mut Vec<u8>, key: &T) -> Result {
    key.serialize(MapKey { out })
}

/// `key` written by serde_json's key writer.
fn key_by_serde_json<T: ?Sized + Serialize>(out: &mut Vec<u8>, key: &T) -> Result {
    let open = out.len();
    {
        let mut json = serde_json::Serializer::new(&mut *out);
        // Opening a map writes `{`; its first key comes after it with no comma.
        let mut map = ser::Serializer::serialize_map(&mut json, None)?;
        ser::SerializeMap::serialize_key(&mut map, key)?;
    }
    // Only the key was written after the brace: take the brace out.
    out.remove(open);
    Ok(())
}

struct MapKey<'a> {
    out: &'a mut Vec<u8>,
}

/// serde_json's refusal of a key that is no string, number, boolean or unit variant.
fn not_a_key() -> Error {
    ser::Error::custom("key must be a string")
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        write_str(self.out, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }

    fn serialize_bool(self, v: bool) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_i8(self, v: i8) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_i16(self, v: i16) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_i32(self, v: i32) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_i64(self, v: i64) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_i128(self, v: i128) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_u8(self, v: u8) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_u16(self, v: u16) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_u32(self, v: u32) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_u64(self, v: u64) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_u128(self, v: u128) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_f32(self, v: f32) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_f64(self, v: f64) -> Result {
        key_by_serde_json(self.out, &v)
    }

    fn serialize_bytes(self, _: &[u8]) -> Result {
        Err(not_a_key())
    }

    fn serialize_none(self) -> Result {
        Err(not_a_key())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result {
        Err(not_a_key())
    }

    fn serialize_unit(self) -> Result {
        Err(not_a_key())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Err(not_a_key())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(not_a_key())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(not_a_key())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(not_a_key())
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(not_a_key())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(not_a_key())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(not_a_key())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(not_a_key())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(not_a_key())
    }
}

#[cfg(test)]
pub(crate) mod tests;
