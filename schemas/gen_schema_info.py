#!/usr/bin/env python3
"""Writes schema_info.hpp, the record schemas' contract with the bus:

- `type_hashes` / `type_hash(t)`: per RecordType value t, a 64-bit FNV-1a hash of the canonical
  form of its root table (RecordType.MarkPrice -> table MarkPrice) together with every enum,
  struct, union and table it references, transitively. The canonical form is read from
  flatc's binary schema (.bfbs), so comments, doc comments, whitespace, the order of
  declarations in and across files, and the files themselves do not count; field names, ids,
  types, defaults, required/deprecated/key/optional and user attributes, enum values and
  struct layouts do. `types_hash(mask)` combines the hashes of a set of types: a bus channel
  is compatible between two builds when it is equal for the record types the channel carries.
- `hash`: FNV-1a over every byte of every file (informative only: any edit changes it).
- `text`: the schemas' text with `include` lines removed, concatenated in the given order, so
  that tools can decode any record to JSON with flatbuffers::Parser.

Usage: gen_schema_info.py --flatc FLATC OUTPUT FILE.fbs...
       gen_schema_info.py --flatc FLATC --dump FILE.fbs...   (canonical forms and hashes)
The functions below are also imported by tests/bus/schema_hash_test.py.
"""
import argparse
import math
import os
import struct
import subprocess
import sys
import tempfile

FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3
MASK64 = 0xFFFFFFFFFFFFFFFF
# Record types a bus channel can declare (layout.hpp: segment_header::record_types, 4 words).
TYPE_CAPACITY = 256


def fnv1a(data, h=FNV_OFFSET):
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def types_hash(type_hashes, types):
    """Combined hash of a set of record types: FNV-1a over (t: 2 bytes LE, type_hash(t): 8
    bytes LE) in ascending t. None when a type is unknown (the C++ side returns 0)."""
    h = FNV_OFFSET
    for t in sorted(set(types)):
        th = type_hashes.get(t, 0)
        if th == 0:
            return None
        h = fnv1a(struct.pack('<HQ', t, th), h)
    return h


# ---- a minimal reader of FlatBuffers tables, enough for reflection.fbs ---------------------

class _Table:
    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        self.vt = pos - struct.unpack_from('<i', buf, pos)[0]
        self.vt_len = struct.unpack_from('<H', buf, self.vt)[0]

    def _field(self, slot):
        o = 4 + 2 * slot
        if o >= self.vt_len:
            return 0
        return struct.unpack_from('<H', self.buf, self.vt + o)[0]

    def scalar(self, slot, fmt, default=0):
        off = self._field(slot)
        return struct.unpack_from('<' + fmt, self.buf, self.pos + off)[0] if off else default

    def _indirect(self, slot):
        off = self._field(slot)
        if not off:
            return None
        p = self.pos + off
        return p + struct.unpack_from('<I', self.buf, p)[0]

    def string(self, slot):
        p = self._indirect(slot)
        if p is None:
            return None
        n = struct.unpack_from('<I', self.buf, p)[0]
        return self.buf[p + 4:p + 4 + n].decode('utf-8')

    def table(self, slot):
        p = self._indirect(slot)
        return None if p is None else _Table(self.buf, p)

    def tables(self, slot):
        p = self._indirect(slot)
        if p is None:
            return []
        n = struct.unpack_from('<I', self.buf, p)[0]
        out = []
        for i in range(n):
            e = p + 4 + 4 * i
            out.append(_Table(self.buf, e + struct.unpack_from('<I', self.buf, e)[0]))
        return out


# reflection.fbs (flatbuffers 2.0.8); field slots are stable (the schema is append-only).
BASE_TYPES = ['none', 'utype', 'bool', 'byte', 'ubyte', 'short', 'ushort', 'int', 'uint', 'long',
              'ulong', 'float', 'double', 'string', 'vector', 'obj', 'union', 'array']
INTEGRAL = {'utype', 'bool', 'byte', 'ubyte', 'short', 'ushort', 'int', 'uint', 'long', 'ulong'}
REAL = {'float', 'double'}


def _base(b):
    return BASE_TYPES[b] if 0 <= b < len(BASE_TYPES) else f'base{b}'


def _attributes(t, slot):
    return sorted((kv.string(0), kv.string(1) or '') for kv in t.tables(slot))


def _real(x):
    return 'nan' if math.isnan(x) else repr(x)


def read_bfbs(data):
    """Objects and enums of a binary schema, as canonical text plus the names they reference."""
    root = _Table(data, struct.unpack_from('<I', data, 0)[0])
    objects, enums = root.tables(0), root.tables(1)
    object_names = [o.string(0) for o in objects]
    enum_names = [e.string(0) for e in enums]

    def type_text(t, refs):
        """(text, referenced name) of a reflection Type; names, never indices (indices move
        when an unrelated type is added)."""
        base, element = _base(t.scalar(0, 'b')), _base(t.scalar(1, 'b'))
        index, fixed = t.scalar(2, 'i', -1), t.scalar(3, 'H')
        kind = element if base in ('vector', 'array') else base
        if index >= 0:
            name = object_names[index] if kind == 'obj' else enum_names[index]
            refs.add(name)
            inner = name if kind == 'obj' else f'{kind} {name}'
        else:
            inner = kind
        if base == 'vector':
            return f'[{inner}]'
        if base == 'array':
            return f'[{inner}:{fixed}]'
        return inner

    defs = {}
    for o in objects:
        refs = set()
        is_struct = bool(o.scalar(2, 'B'))
        head = (f'struct {o.string(0)} size={o.scalar(4, "i")} align={o.scalar(3, "i")}'
                if is_struct else f'table {o.string(0)}')
        attrs = ''.join(f' ({k}={v})' for k, v in _attributes(o, 5))
        lines = [head + attrs]
        for f in sorted(o.tables(1), key=lambda f: f.scalar(2, 'H')):
            ty = type_text(f.table(1), refs)
            kind = _base(f.table(1).scalar(0, 'b'))
            # Table fields: the id is the vtable slot. Struct fields: the byte offset counts.
            place = f' @{f.scalar(3, "H")}' if is_struct else ''
            line = f'  {f.scalar(2, "H")}{place} {f.string(0)}: {ty}'
            if kind in INTEGRAL:
                line += f' = {f.scalar(4, "q")}'
            elif kind in REAL:
                line += f' = {_real(f.scalar(5, "d"))}'
            # `optional` only means something for scalars (`= null`); flatc sets it on every
            # non-required string or table field.
            flags = [(6, 'deprecated'), (7, 'required'), (8, 'key')]
            if kind in INTEGRAL or kind in REAL:
                flags.append((11, 'optional'))
            for slot, flag in flags:
                if f.scalar(slot, 'B'):
                    line += ' ' + flag
            if f.scalar(12, 'H'):
                line += f' padding={f.scalar(12, "H")}'
            line += ''.join(f' ({k}={v})' for k, v in _attributes(f, 9))
            lines.append(line)
        defs[o.string(0)] = ('\n'.join(lines), refs)
    for e in enums:
        refs = set()
        is_union = bool(e.scalar(2, 'B'))
        under = _base(e.table(3).scalar(0, 'b'))
        attrs = ''.join(f' ({k}={v})' for k, v in _attributes(e, 4))
        lines = [f'{"union" if is_union else "enum"} {e.string(0)}: {under}{attrs}']
        for v in sorted(e.tables(1), key=lambda v: v.scalar(1, 'q')):
            line = f'  {v.string(0)} = {v.scalar(1, "q")}'
            ut = v.table(3)
            if is_union and ut is not None and _base(ut.scalar(0, 'b')) != 'none':
                line += ' -> ' + type_text(ut, refs)
            lines.append(line)
        defs[e.string(0)] = ('\n'.join(lines), refs)
    return defs


def binary_schema(files, flatc):
    """One flatc parse of every file (through an umbrella schema that includes them all)."""
    with tempfile.TemporaryDirectory(prefix='vs-schema-') as tmp:
        umbrella = os.path.join(tmp, 'all.fbs')
        with open(umbrella, 'w', encoding='utf-8') as f:
            # By base name, found through -I (flatc 2.0.8 does not load absolute includes).
            for path in files:
                f.write(f'include "{os.path.basename(path)}";\n')
        dirs = sorted({os.path.dirname(os.path.abspath(p)) for p in files})
        cmd = [flatc, '-b', '--schema']
        for d in dirs:
            cmd += ['-I', d]
        cmd += ['-o', tmp, umbrella]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.exit(f'gen_schema_info.py: flatc failed: {" ".join(cmd)}\n{r.stdout}')
        with open(os.path.join(tmp, 'all.bfbs'), 'rb') as f:
            return f.read()


def canonical(defs, root):
    """The canonical text of `root` and everything it references, dependencies by name."""
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(defs[name][1])
    return '\n'.join([defs[root][0]] + [defs[n][0] for n in sorted(seen - {root})]) + '\n'


def record_types(files, flatc):
    """{t: (name, hash, canonical text)} for every RecordType value but None = 0."""
    defs = read_bfbs(binary_schema(files, flatc))
    enum = [n for n in defs if n.rsplit('.', 1)[-1] == 'RecordType' and defs[n][0].startswith('enum ')]
    if len(enum) != 1:
        sys.exit('gen_schema_info.py: expected exactly one enum RecordType in the schemas')
    namespace = enum[0].rsplit('.', 1)[0] + '.' if '.' in enum[0] else ''
    out = {}
    for line in defs[enum[0]][0].split('\n')[1:]:
        name, value = (s.strip() for s in line.split('='))
        t = int(value)
        if t == 0:
            continue
        if not 0 < t < TYPE_CAPACITY:
            sys.exit(f'gen_schema_info.py: RecordType.{name} = {t}: values must be in [1, {TYPE_CAPACITY})')
        root = namespace + name
        if root not in defs or not defs[root][0].startswith('table '):
            sys.exit(f'gen_schema_info.py: RecordType.{name} = {t} names no table {root}')
        text = canonical(defs, root)
        out[t] = (name, fnv1a(text.encode('utf-8')), text)
    return out


def files_hash_and_text(files):
    h = FNV_OFFSET
    texts = []
    for path in files:
        data = open(path, 'rb').read().replace(b'\r\n', b'\n')
        name = path.rsplit('/', 1)[-1].encode()
        h = fnv1a(name + b'\0' + data, h)
        lines = [l for l in data.decode('utf-8').split('\n') if not l.startswith('include ')]
        texts.append('\n'.join(lines))
    return h, '\n'.join(texts)


def header(files, flatc):
    h, text = files_hash_and_text(files)
    assert ')fbs"' not in text
    types = record_types(files, flatc)
    top = max(types)
    hashes = '\n    '.join(f'0x{types[t][1]:016x}ULL,  // {t} {types[t][0]}' if t in types
                             else f'0x0000000000000000ULL,  // {t}' for t in range(1, top + 1))
    known = types_hash({t: v[1] for t, v in types.items()}, types)
    words = [0] * (TYPE_CAPACITY // 64)
    for t in types:
        words[t // 64] |= 1 << (t % 64)
    known_words = ', '.join(f'0x{w:016x}ULL' for w in words)
    return f'''// Generated by schemas/gen_schema_info.py. Do not edit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace vs::schema_info {{
/// FNV-1a over every byte of every schema file: any edit changes it, comments included.
/// Informative only; compatibility is per record type (type_hash, types_hash).
inline constexpr std::uint64_t hash = 0x{h:016x}ULL;
inline constexpr std::string_view text = R"fbs({text})fbs";

/// Highest RecordType value of this build.
inline constexpr std::uint16_t max_record_type = {top};
/// type_hashes[t]: hash of the canonical binary schema of RecordType t's root table and of
/// everything it references (see gen_schema_info.py); 0 where t names no type.
inline constexpr std::uint64_t type_hashes[] = {{
    0x0000000000000000ULL,  // 0 None
    {hashes}
}};

/// Hash of one record type's schema; 0 for a type this build does not know.
constexpr std::uint64_t type_hash(std::uint16_t t) noexcept
{{
    return t <= max_record_type ? type_hashes[t] : 0;
}}

/// Combined hash of a set of record types, given as a bit mask (type t = bit t % 64 of
/// words[t / 64]): FNV-1a over (t as 2 bytes, type_hash(t) as 8 bytes, little endian) for
/// every t in ascending order. 0 when the set holds a type this build does not know.
constexpr std::uint64_t types_hash(std::span<const std::uint64_t> words) noexcept
{{
    std::uint64_t h = 0x{FNV_OFFSET:016x}ULL;
    for (std::size_t w = 0; w < words.size(); ++w) {{
        for (unsigned b = 0; b < 64; ++b) {{
            if (((words[w] >> b) & 1u) == 0) {{
                continue;
            }}
            const std::uint64_t t = w * 64 + b;
            const std::uint64_t th = t <= max_record_type ? type_hashes[t] : 0;
            if (th == 0) {{
                return 0;
            }}
            for (unsigned i = 0; i < 10; ++i) {{
                const std::uint64_t byte = i < 2 ? (t >> (8 * i)) & 0xffu : (th >> (8 * (i - 2))) & 0xffu;
                h = (h ^ byte) * 0x{FNV_PRIME:016x}ULL;
            }}
        }}
    }}
    return h;
}}

/// Every record type of this build, as a mask of {TYPE_CAPACITY // 64} words, and its combined hash.
inline constexpr std::uint64_t known_types[{TYPE_CAPACITY // 64}] = {{{known_words}}};
inline constexpr std::uint64_t known_types_hash = 0x{known:016x}ULL;
static_assert(types_hash(known_types) == known_types_hash, "C++ and Python types_hash differ");
}}  // namespace vs::schema_info
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--flatc', default='flatc')
    ap.add_argument('--dump', action='store_true', help='print canonical forms and hashes')
    ap.add_argument('paths', nargs='+')
    a = ap.parse_args()
    if a.dump:
        for t, (name, h, text) in sorted(record_types(a.paths, a.flatc).items()):
            print(f'# {t} {name} {h:016x}\n{text}')
        return
    out, files = a.paths[0], a.paths[1:]
    text = header(files, a.flatc)
    with open(out, 'w', encoding='utf-8') as f:
        f.write(text)


if __name__ == '__main__':
    main()
