"""Issue 13 (Deliver 3): the snapshot's word tables open without unpickling, give the same phonemes as
the normal jieba + pypinyin path, and keep pypinyin off the start path.

The frontend's jieba/pypinyin state is process-wide, so each comparison runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from function.engines.base import EngineLoadError
from function.engines.emotivoice import snapshot_format as fmt
from function.engines.emotivoice.word_tables import FrequencyTable, SyllableTable, TableError

ROOT = Path(__file__).resolve().parents[2]

# Dictionary words, polyphones decided by phrase data (重庆/重要, 银行/行长, 朝阳/朝着), names and other
# words jieba's HMM builds (张小明, 取件: no dictionary word, so pypinyin's own segmentation decides),
# rare characters, numbers (read as Chinese numerals first), English inside Chinese, punctuation.
CORPUS = [
    "你好，欢迎光临。",
    "张小明和李华在北京大学读书，他们说：“长城很长！”",
    "重庆的重要性不言而喻；银行行长来了。",
    "朝阳区的朝霞真美，他朝着我走来。曾经的曾先生说了一句话。",
    "乐乐快乐地唱歌，音乐很好听……今天天气真好",
    "尊敬的客户您好，您的快递已经到达小区门口的驿站，请尽快取件。",
    "2023年，GDP增长了5.2%。Hello 世界！",
    "一丝不苟、龘靐齉爩《红楼梦》【注】—— 完",
]

TOKENS_SCRIPT = r"""
import json, sys
from pathlib import Path
corpus = json.loads(sys.argv[2])
if sys.argv[1] != "-":
    from function.engines.emotivoice.snapshot_frontend import load_pickle, seed_frontend
    directory = Path(sys.argv[1])
    seed_frontend(load_pickle(directory / "frontend.pkl"), directory)
from function.engines.emotivoice import chinese
from function.engines.emotivoice.frontend import text_to_tokens
first = text_to_tokens(corpus[0], {})
pypinyin_after_first = "pypinyin" in sys.modules
tokens = [first] + [text_to_tokens(text, {}) for text in corpus[1:]]
print(json.dumps({"tokens": tokens, "pypinyin_after_first": pypinyin_after_first,
                  "pypinyin_loaded": chinese.pinyin_loaded()}, ensure_ascii=False))
"""


def _tokens(directory: Path | None) -> dict:
    out = subprocess.run([sys.executable, "-c", TOKENS_SCRIPT, str(directory) if directory else "-",
                          json.dumps(CORPUS, ensure_ascii=False)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tables_give_the_normal_paths_tokens_without_pypinyin(tiny_snapshot) -> None:
    normal = _tokens(None)
    tabled = _tokens(tiny_snapshot[0])
    assert tabled["tokens"] == normal["tokens"]
    assert not tabled["pypinyin_after_first"] and not tabled["pypinyin_loaded"]
    assert normal["pypinyin_loaded"]


FUZZ_SCRIPT = r"""
import json, random, sys
from pathlib import Path
from function.engines.emotivoice.snapshot_frontend import load_pickle, seed_frontend
directory = Path(sys.argv[1])
seed_frontend(load_pickle(directory / "frontend.pkl"), directory)
from function.engines.emotivoice import chinese
from function.engines.emotivoice.word_tables import SyllableTable
table = SyllableTable.open(directory / "pinyin.words")
phrases = [k for k in table if len(k) > 1]
chars = [k for k in table if len(k) == 1 and "一" <= k <= "鿿"]
rng = random.Random(13)
words = []
for _ in range(4000):  # phrases run together, cut at random, with stray characters between
    parts = [rng.choice(phrases) if rng.random() < 0.6 else rng.choice(chars) for _ in range(rng.randint(1, 4))]
    text = "".join(parts)
    start = rng.randint(0, max(0, len(text) - 2))
    words.append(text[start:start + rng.randint(2, 9)])
tabled = [chinese._table_syllables(w) for w in words]
chinese.preload_pinyin()
reference = [chinese._pinyin(w) for w in words]
bad = [(w, t, r) for w, t, r in zip(words, tabled, reference) if t != r]
print(json.dumps({"n": len(words), "bad": bad[:5], "n_bad": len(bad)}, ensure_ascii=False))
"""


def test_table_pinyin_equals_pypinyin_on_random_words(tiny_snapshot) -> None:
    """4,000 random multi-character words (phrases run together and cut anywhere, so pypinyin's maximum
    matching has to choose between overlapping phrases): the table's answer equals pypinyin's."""
    out = subprocess.run([sys.executable, "-c", FUZZ_SCRIPT, str(tiny_snapshot[0])], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == 4000 and result["n_bad"] == 0, result["bad"]


def test_snapshot_lists_and_verifies_the_table_files(tiny_snapshot) -> None:
    directory, manifest = tiny_snapshot
    for name in (fmt.WORDS, fmt.SYLLABLES, fmt.PHRASES):
        assert manifest["files"][name]["bytes"] == (directory / name).stat().st_size > 0
    words = FrequencyTable.open(directory / fmt.WORDS)
    syllables = SyllableTable.open(directory / fmt.SYLLABLES)
    assert words["你好"] > 0 and "你好" in words and words.get("不存在的词语xyz") is None
    assert syllables["重庆"] == ("chong2", "qing4") and syllables["银行"] == ("yin2", "hang2")
    assert syllables.has_keys_with_prefix("银") and not syllables.has_keys_with_prefix("银xyz")
    assert syllables["，"] == ("，",)


def test_round_trip_and_mapping_protocol(tmp_path: Path) -> None:
    counts = {"北": 3, "北京": 17, "北京大": 0, "北京大学": 9, "é": 1}
    FrequencyTable.build(counts).save(tmp_path / "f")
    table = FrequencyTable.open(tmp_path / "f")
    assert dict(table.items()) == counts and len(table) == 5
    assert table.get("南", 7) == 7 and "南" not in table
    with pytest.raises(KeyError):
        table["南"]
    pairs = [("北京", ["bei3", "jing1"]), ("了", ["le5"]), ("，", ["，"])]
    SyllableTable.build(pairs).save(tmp_path / "s")
    syllables = SyllableTable.open(tmp_path / "s")
    assert {k: list(v) for k, v in syllables.items()} == dict(pairs)
    assert syllables.get("南") is None
    with pytest.raises(ValueError):
        SyllableTable.build([("x", ["a b"])])


@pytest.mark.parametrize("damage", ["truncate", "magic", "garbage", "missing"])
def test_damaged_table_files_are_refused(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "f"
    FrequencyTable.build({"北京": 1, "上海": 2}).save(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-3])
    elif damage == "magic":
        path.write_bytes(b"XXXX" + data[4:])
    elif damage == "garbage":
        path.write_bytes(data[:32] + bytes(len(data) - 32))
    else:
        path.unlink()
    with pytest.raises(TableError):
        FrequencyTable.open(path)


def test_a_damaged_table_in_a_snapshot_is_a_load_error(snapshot_copy: Path) -> None:
    """Loading a snapshot whose syllable table is cut short fails with a message naming the file."""
    from function.engines.emotivoice.snapshot_frontend import load_pickle, seed_frontend

    path = snapshot_copy / fmt.SYLLABLES
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(EngineLoadError, match="pinyin.words"):
        seed_frontend(load_pickle(snapshot_copy / fmt.FRONTEND), snapshot_copy)

