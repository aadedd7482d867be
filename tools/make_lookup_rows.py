"""Write ``smartroute_graph/data/supplement/long_input_shapes.jsonl``: long pasted documents
with a one-line lookup question (text/simple: the size of the input is not the difficulty of
the task), and everyday legal questions (knowledge), hand-written 2026-12-04.

Run: ``python tools/make_lookup_rows.py``. The documents and questions below are written for
this project; none is taken from a dataset.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "smartroute_graph/data/supplement"
LAW = Path(__file__).resolve().parent / "law_questions.jsonl"

_SOURCE = json.loads((Path(__file__).resolve().parent / "lookup_documents.json").read_text("utf-8"))
DOCS: dict[str, str] = _SOURCE["documents"]
QUESTIONS: dict[str, list[str]] = _SOURCE["questions"]

LEADS = (
    "",
    "Quick question about the document below. ",
    "From this text: ",
    "Looking at the pasted doc — ",
)


def rows() -> list[dict[str, str]]:
    rng = random.Random(4)
    out = []
    for name, doc in DOCS.items():
        for i, q in enumerate(QUESTIONS[name]):
            prompt = f"{doc}\n\n{q}" if i % 2 == 0 else f"{rng.choice(LEADS)}{q}\n\n{doc}"
            out.append(
                {
                    "id": f"supplement-lookup-{name}-{i}",
                    "prompt": prompt,
                    "domain": "text",
                    "complexity": "simple",
                    "lang": "en",
                }
            )
    for n, line in enumerate(LAW.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        out.append({"id": f"supplement-law-{n:03d}", **row})
    return out


def main() -> None:
    path = OUT / "long_input_shapes.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {path}")  # noqa: T201


if __name__ == "__main__":
    main()
