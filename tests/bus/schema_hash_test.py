#!/usr/bin/env python3
"""The per-record-type schema hashes of schemas/gen_schema_info.py (what decides whether two
builds may share a bus channel or a snapshot), run on edited temporary copies of the schemas:
comments, whitespace and declaration order do not count; a change to a table a channel
carries (or to anything that table references) does; a change elsewhere does not.

Usage: schema_hash_test.py GEN_SCHEMA_INFO.py FLATC SCHEMA_DIR"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

GEN, FLATC, SCHEMAS = sys.argv[1:4] if len(sys.argv) >= 4 else (None, None, None)
FILES = ['common.fbs', 'alerts.fbs', 'feed_status.fbs', 'market_data.fbs', 'open_interest.fbs',
         'universe.fbs', 'process_status.fbs', 'news.fbs']
# RecordType values (schemas/common.fbs).
MARK_PRICE, TICKER, LIQUIDATION, FEED_STATUS, VOLUME_SPIKE_ALERT = 1, 2, 3, 8, 9
LIQUIDATION_ALERT, WHALE_TRADE_ALERT, PROCESS_STATUS, NEWS_POST = 12, 13, 14, 15
# The `market` channel of vs-feed.
MARKET = [MARK_PRICE, TICKER, LIQUIDATION, FEED_STATUS, PROCESS_STATUS]


def load_generator():
    spec = importlib.util.spec_from_file_location('gen_schema_info', GEN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class SchemaHashTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gen = load_generator()
        cls.base = cls.hashes_of({})

    @classmethod
    def hashes_of(cls, edits):
        """{type: hash} of a temporary copy of the schemas with edits {file: fn(text) -> text}."""
        with tempfile.TemporaryDirectory(prefix='vs-schema-test-') as tmp:
            for name in FILES:
                with open(os.path.join(SCHEMAS, name), encoding='utf-8') as f:
                    text = f.read()
                if name in edits:
                    edited = edits[name](text)
                    assert edited != text, f'edit of {name} changed nothing'
                    text = edited
                with open(os.path.join(tmp, name), 'w', encoding='utf-8') as f:
                    f.write(text)
            types = cls.gen.record_types([os.path.join(tmp, n) for n in FILES], FLATC)
            return {t: h for t, (_, h, _) in types.items()}

    def combined(self, hashes, types):
        return self.gen.types_hash(hashes, types)

    def changed(self, hashes):
        return sorted(t for t in self.base if hashes.get(t) != self.base[t])

    def test_every_record_type_has_a_hash_news_post_included(self):
        self.assertEqual(sorted(self.base), list(range(1, NEWS_POST + 1)))
        self.assertEqual(len(set(self.base.values())), NEWS_POST)

    def test_comments_and_whitespace_do_not_count(self):
        def respace(text):
            text = '// a comment edited in every file\n' + text
            text = text.replace('/// ', '/// Reworded documentation: ')
            text = re.sub(r'// (?=[A-Z])', '//   Reworded: ', text)
            text = text.replace(':', ' : ').replace('{', '\n{\n\n').replace('  ', '\t')
            return text.replace(';\n', ';   // trailing comment\n')
        hashes = self.hashes_of({name: respace for name in FILES})
        self.assertEqual(hashes, self.base)
        self.assertEqual(self.combined(hashes, MARKET), self.combined(self.base, MARKET))

    def test_declaration_order_of_tables_does_not_count(self):
        def swap(text):
            i, j = text.index('/// aggTrade'), text.index('/// kline')
            return text[:i] + text[j:] + '\n' + text[i:j]
        self.assertEqual(self.hashes_of({'market_data.fbs': swap}), self.base)

    def test_a_field_type_change_in_a_carried_table_breaks_the_channel(self):
        hashes = self.hashes_of({'market_data.fbs': lambda t: t.replace(
            'funding_interval_hours:ubyte;', 'funding_interval_hours:ushort;')})
        self.assertEqual(self.changed(hashes), [MARK_PRICE])
        self.assertNotEqual(self.combined(hashes, MARKET), self.combined(self.base, MARKET))

    def test_a_change_to_an_unrelated_table_keeps_the_channel_compatible(self):
        def edit(text):
            text = text.replace('  volume_ratio:double;\n', '  volume_ratio:float;\n')
            return text.replace('  bullish:bool;\n', '  bullish:bool;\n  new_field:long;\n')
        hashes = self.hashes_of({'alerts.fbs': edit})
        self.assertEqual(self.changed(hashes), [VOLUME_SPIKE_ALERT])
        self.assertEqual(self.combined(hashes, MARKET), self.combined(self.base, MARKET))
        self.assertNotEqual(self.combined(hashes, [VOLUME_SPIKE_ALERT]),
                            self.combined(self.base, [VOLUME_SPIKE_ALERT]))

    def test_a_referenced_table_counts_for_the_tables_that_use_it(self):
        hashes = self.hashes_of({'feed_status.fbs': lambda t: t.replace('  frames:ulong;', '  frames:uint;')})
        self.assertEqual(self.changed(hashes), [FEED_STATUS])

    def test_a_shared_enum_counts_for_exactly_the_tables_that_use_it(self):
        hashes = self.hashes_of({'common.fbs': lambda t: t.replace(
            'enum Side : ubyte { Unknown = 0, Buy = 1, Sell = 2 }',
            'enum Side : ubyte { Unknown = 0, Buy = 1, Sell = 2, Both = 3 }')})
        self.assertEqual(self.changed(hashes), [LIQUIDATION, LIQUIDATION_ALERT, WHALE_TRADE_ALERT])

    def test_defaults_required_and_deprecated_count(self):
        for file, old, new, want in [
            ('alerts.fbs', '  count:uint = 1;', '  count:uint = 2;', [LIQUIDATION_ALERT]),
            ('market_data.fbs', '  pair:string;', '  pair:string (deprecated);', [TICKER]),
            ('market_data.fbs', '  mark_price:double = nan;', '  mark_price:double = 0;', [MARK_PRICE]),
            ('process_status.fbs', '  version:string;', '  version:string (required);', [PROCESS_STATUS]),
        ]:
            with self.subTest(new=new):
                hashes = self.hashes_of({file: lambda t, old=old, new=new: t.replace(old, new)})
                self.assertEqual(self.changed(hashes), want)

    def test_a_new_record_type_leaves_the_existing_ones_alone(self):
        def add_type(text):
            return text.replace('  NewsPost = 15,\n', '  NewsPost = 15,\n  FundingAlert = 16,\n')
        def add_table(text):
            return text + '\ntable FundingAlert {\n  symbol:string (required);\n  rate:double;\n}\n'
        hashes = self.hashes_of({'common.fbs': add_type, 'alerts.fbs': add_table})
        self.assertEqual(self.changed(hashes), [])
        self.assertIn(16, hashes)
        # A channel carrying the new type is unknown to the old build (None; 0 in C++).
        self.assertIsNone(self.combined(self.base, MARKET + [16]))

    def test_the_generated_header_carries_the_same_hashes(self):
        with tempfile.TemporaryDirectory(prefix='vs-schema-test-') as tmp:
            out = os.path.join(tmp, 'schema_info.hpp')
            subprocess.run([sys.executable, GEN, '--flatc', FLATC, out] +
                           [os.path.join(SCHEMAS, n) for n in FILES], check=True)
            with open(out, encoding='utf-8') as f:
                text = f.read()
        for t, h in self.base.items():
            self.assertIn(f'0x{h:016x}ULL,  // {t} ', text)
        self.assertIn(f'known_types_hash = 0x{self.combined(self.base, self.base):016x}ULL;', text)


if __name__ == '__main__':
    if GEN is None:
        sys.exit(__doc__)
    unittest.main(argv=sys.argv[:1], verbosity=2)
