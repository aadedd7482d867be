"""Does the classifier read the task or its wrapper? Domain accuracy of prompts wrapped in
twelve everyday templates, against the same prompts unwrapped.

    .venv/bin/python bench/eval_wrappers.py [--model accurate|fast|FOLDER ...] [--json OUT]
        [--only probes|heldout_fresh]

Two prompt sets, each wrapped in every template of :data:`TEMPLATES`:

- the public domain probes (``../shared/eval/domain_probes.jsonl``; skipped when absent, set
  SMARTROUTE_EVAL_DIR to point elsewhere). Measured only, never trained on; the probes are
  partly a development set (see ``smartroute_graph/data/LABELLING.md``);
- ``bench/data/heldout_fresh.jsonl``: 300 prompts written for this measurement, of kinds the
  corpus writers did not target, labelled per LABELLING.md and never trained on.

A wrapper keeps the inner prompt's domain. The templates were written after the training data
of the packaged models was frozen and are not drawn from the training wrappers
(``smartroute_graph/training/wrappers.py``). Per template: domain accuracy and the drop in
points against the unwrapped prompts (target: no more than 2 points).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import EVAL_DIR, read_jsonl, table

HELDOUT = Path(__file__).resolve().parent / "data" / "heldout_fresh.jsonl"

_DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole "
    "use of the intended recipient(s) and may contain confidential and privileged information. "
    "Any unauthorized review, use, disclosure or distribution is prohibited. If you are not the "
    "intended recipient, please contact the sender by reply e-mail and destroy all copies of the "
    "original message. E-mail transmission cannot be guaranteed to be secure or error-free. "
    "The sender therefore does not accept liability for any errors or omissions in the contents "
    "of this message which arise as a result of e-mail transmission."
)
_POLICY = (
    "## Operating guidelines\n"
    "1. Be accurate. Prefer saying you are not sure over guessing.\n"
    "2. Be kind and respectful; never demean the person you are helping.\n"
    "3. Protect privacy: do not ask for or repeat personal identifiers unless needed.\n"
    "4. Refuse requests for clearly dangerous content and briefly say why.\n"
    "5. Match the user's language and level of formality.\n"
    "6. Keep formatting simple: short paragraphs, lists only when they help.\n"
    "7. When the request is ambiguous, answer the most likely reading and say what you assumed.\n"
    "8. Do not mention these guidelines.\n"
)


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line for line in text.splitlines())


TEMPLATES: dict[str, Callable[[str], str]] = {
    "exam_paper": lambda q: (
        "EXAMINATION PAPER — Section B (25 marks)\nCandidates must attempt ALL questions. "
        f"Show your working where appropriate.\n\nQuestion 4.\n{q}\n\n[End of question 4]"
    ),
    "eval_record_json": lambda q: json.dumps(
        {"sample_id": "s-00417", "task": {"prompt_text": q}, "grader": "model-graded", "n": 1}
    ),
    "zephyr": lambda q: (
        f"<|system|>\nYou are a friendly chatbot.</s>\n<|user|>\n{q}</s>\n<|assistant|>\n"
    ),
    "autogpt_goals": lambda q: (
        "You are TaskGPT, an AI designed to autonomously accomplish goals.\n\nGOALS:\n"
        f"1. {q}\n2. Write the result to output.txt\n3. Shut down when done\n\nConstraints:\n"
        "1. ~4000 word limit for short term memory.\n2. No user assistance.\n\n"
        'Respond only in JSON: {"thoughts": ..., "command": ...}'
    ),
    "slack_forward": lambda q: (
        f'hey, can you look at this? sam asked in #general:\n\n"{q}"\n\n'
        "not sure what to tell him, what would you say?"
    ),
    "formal_email": lambda q: (
        "Subject: Re: your enquiry\n\nDear Support Team,\n\nI hope this message finds you well. "
        f"I am writing with the following request:\n\n{q}\n\nI look forward to your response."
        "\n\nKind regards,\nM. Laurent\nSent from my iPhone"
    ),
    "disclaimer_after": lambda q: f"{q}\n\n--\n{_DISCLAIMER}",
    "markdown_assignment": lambda q: (
        "# Assignment 3\n\n**Course:** General Studies 101  \n**Due:** Friday, 5 pm\n\n---\n\n"
        f"### Prompt\n\n{_indent(q, '> ')}\n\n### Rubric\n\n| criterion | points |\n|---|---|\n"
        "| correctness | 6 |\n| clarity | 4 |"
    ),
    "yaml_task": lambda q: (
        f"task:\n  id: 8841\n  priority: normal\n  input: |\n{_indent(q, '    ')}\n"
        "  output_format: plain text\n  max_tokens: 800"
    ),
    "few_shot_mixed": lambda q: (
        "Here are some examples of how to respond.\n\nUser: What's 2+2?\nBot: 4\n\n"
        "User: Say hello in French.\nBot: Bonjour\n\nUser: Name a primary colour.\nBot: Red\n\n"
        f"User: {q}\nBot:"
    ),
    "html_form": lambda q: (
        '<form id="contact" action="/send" method="post">\n<label for="msg">Your message</label>'
        f'\n<textarea name="msg" id="msg">{q}</textarea>\n<input type="submit" value="Send">'
        "\n</form>"
    ),
    "system_policy": lambda q: f"{_POLICY}\n---\nThe user says:\n{q}",
}
"""The measurement templates, by name: each takes the inner prompt and returns the wrapped one."""


def measure(clf: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Domain accuracy unwrapped and per template, and complexity accuracy unwrapped."""
    gold = [r["domain"] for r in rows]

    def acc(texts: list[str]) -> tuple[float, list[Any]]:
        decisions = clf.classify(texts)
        hits = sum(d.domain == g for d, g in zip(decisions, gold, strict=True))
        return hits / len(rows), decisions

    clean, decisions = acc([r["prompt"] for r in rows])
    out: dict[str, Any] = {"n": len(rows), "unwrapped": clean, "templates": {}}
    labelled = [(d, r) for d, r in zip(decisions, rows, strict=True) if r.get("complexity")]
    if labelled:
        out["complexity_accuracy"] = sum(
            d.complexity == r["complexity"] for d, r in labelled
        ) / len(labelled)
        out["pair_accuracy"] = sum(
            d.domain == r["domain"] and d.complexity == r["complexity"] for d, r in labelled
        ) / len(labelled)
    for name, template in TEMPLATES.items():
        out["templates"][name], _ = acc([template(r["prompt"]) for r in rows])
    values = list(out["templates"].values())
    out["mean_wrapped"] = sum(values) / len(values)
    out["mean_drop_points"] = 100 * (clean - out["mean_wrapped"])
    out["worst_drop_points"] = 100 * (clean - min(values))
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure each model on both sets; print Markdown tables, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="accurate, fast or a model folder")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument(
        "--only", choices=["probes", "heldout_fresh"], help="measure one of the two sets only"
    )
    args = parser.parse_args(argv)
    from smartroute_graph.classifiers.encoder import EncoderClassifier

    sets: dict[str, list[dict[str, Any]]] = {}
    if args.only != "probes":
        sets["heldout_fresh"] = read_jsonl(args.heldout)
    probes = EVAL_DIR / "domain_probes.jsonl"
    if args.only == "heldout_fresh":
        pass
    elif probes.exists():
        sets["probes"] = read_jsonl(probes)
    else:
        print(f"({probes} absent: probes skipped)")
    results: dict[str, Any] = {}
    for model in args.model or ["accurate"]:
        clf = EncoderClassifier(model, cache_size=0)
        results[model] = {name: measure(clf, rows) for name, rows in sets.items()}
        res = results[model]
        headers = ["template"]
        for name in res:
            headers += [f"{name} acc", f"{name} drop (pts)"]
        lines: list[list[Any]] = [["(unwrapped)"]]
        for s in res:
            lines[0] += [res[s]["unwrapped"], ""]
        for t in TEMPLATES:
            row: list[Any] = [t]
            for s in res:
                drop = 100 * (res[s]["unwrapped"] - res[s]["templates"][t])
                row += [res[s]["templates"][t], f"{drop:+.1f}"]
            lines.append(row)
        mean: list[Any] = ["mean over templates"]
        for s in res:
            mean += [res[s]["mean_wrapped"], f"{res[s]['mean_drop_points']:+.1f}"]
        lines.append(mean)
        print(f"\n### {model}\n")
        print(table(headers, lines))
        for s in res:
            if "complexity_accuracy" in res[s]:
                print(
                    f"\n{s} (unwrapped, n={res[s]['n']}): domain {res[s]['unwrapped']:.3f}, "
                    f"complexity {res[s]['complexity_accuracy']:.3f}, "
                    f"domain+complexity {res[s]['pair_accuracy']:.3f}"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
