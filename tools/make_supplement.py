"""Write ``smartroute_graph/data/supplement/exam_shapes.jsonl``: templated exam-shaped prompts.

LABELLING.md asks the corpus for prompts "shaped like exams and benchmarks (multiple choice with
options A–D, … a grade-school word problem) but always newly written". The hand-written corpus
has few multi-sentence grade-school word problems and few "Answer:"-style multiple-choice
questions; this script fills those two shapes from templates written for this project (no
dataset text). Run: ``python tools/make_supplement.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = (
    Path(__file__).resolve().parents[1]
    / "smartroute_graph"
    / "data"
    / "supplement"
    / "exam_shapes.jsonl"
)
NAMES = [
    "Maya",
    "Tom",
    "Priya",
    "Luis",
    "Aiko",
    "Omar",
    "Grace",
    "Jonas",
    "Fatima",
    "Ben",
    "Sofia",
    "Kwame",
    "Elena",
    "Raj",
    "Chloe",
    "Mateo",
    "Hannah",
    "Yusuf",
    "Nora",
    "Leo",
]
ITEMS = [
    ("apples", "bags"),
    ("cupcakes", "trays"),
    ("pencils", "boxes"),
    ("stickers", "sheets"),
    ("eggs", "cartons"),
    ("marbles", "jars"),
    ("cookies", "tins"),
    ("books", "shelves"),
    ("tomatoes", "crates"),
    ("candles", "packs"),
]

ONE_STEP = [
    "{n} has {a} {i}. {p} buys {b} more. How many {i} does {n} have now?",
    "{n} had {a} {i} and gave {b} of them to a friend. How many {i} are left?",
    "A {c} holds {b} {i}. How many {i} are in {a} {c}s?",
    "{n} earns ${a} a week from a paper route. How much does {p2} earn in {b} weeks?",
    "There are {a} students in a class and {b} of them walk to school. How many do not walk?",
]
MULTI_STEP = [
    "{n} sells {i} at the market for ${c1} each. On Monday {p2} sells {a} and on Tuesday {p2} "
    "sells {b} more than on Monday. How much money does {n} make over the two days?",
    "{n} buys {a} {c}s of {i}. Each {c} has {b} {i}. {p} uses {d} {i} for a recipe and shares "
    "the rest equally among {e} friends. How many {i} does each friend get?",
    "A store had {a} {i}. It sold a third of them in the morning and {b} in the afternoon. Then "
    "a delivery brought {d} more. How many {i} does the store have at closing?",
    "{n} reads {a} pages a day for {b} days, then {c1} pages a day for the next {d} days. The "
    "book has {e}00 pages. How many pages are left to read?",
    "{n} is saving for a bike that costs ${e}0. {p} already has ${a} and saves ${b} every week. "
    "After {d} weeks, how much more money does {p2} need?",
    "A farmer collects {a} {i} every day. {p} keeps {b} for the family and sells the rest for "
    "${c1} per dozen. How much does the farmer earn in a week?",
    "{n} runs {b} km on weekdays and twice as far on each weekend day. How many kilometres does "
    "{n} run in {d} weeks?",
    "Tickets cost ${c1} for adults and ${b} for children. {n} buys tickets for {d} adults and "
    "{e} children and pays with a ${a}0 bill. How much change does {p2} get?",
    "{n} bakes {a} {i}. {p} sells 40% of them, gives {b} to neighbours and eats {d}. How many "
    "{i} are left?",
    "A water tank holds {a}0 litres. It is {b}0% full. {n} uses {d} litres a day. After {e} "
    "days, how many litres are in the tank?",
]
CHATTY = [
    "",
    "",
    "",
    "Can you help with my homework? ",
    "Word problem: ",
    "my kid's homework, I'm stuck: ",
    "Solve step by step. ",
]

MC = [  # (question, options, complexity)
    ("Which organ produces insulin?", ["Liver", "Pancreas", "Kidney", "Spleen"], "simple"),
    (
        "The Treaty of Westphalia (1648) ended which conflict?",
        [
            "The Hundred Years' War",
            "The Thirty Years' War",
            "The War of the Roses",
            "The Seven Years' War",
        ],
        "moderate",
    ),
    (
        "Which layer of the atmosphere contains most of the ozone?",
        ["Troposphere", "Stratosphere", "Mesosphere", "Thermosphere"],
        "simple",
    ),
    (
        "Under the doctrine of stare decisis, courts",
        [
            "follow precedent",
            "defer to the legislature",
            "apply natural law",
            "avoid constitutional questions",
        ],
        "moderate",
    ),
    (
        "A patient with a deficiency of vitamin B12 is most likely to develop",
        ["microcytic anemia", "megaloblastic anemia", "hemolytic anemia", "aplastic anemia"],
        "moderate",
    ),
    (
        "Which economist is most associated with the idea of the 'invisible hand'?",
        ["John Maynard Keynes", "Adam Smith", "Karl Marx", "Milton Friedman"],
        "simple",
    ),
    (
        "In which phase of mitosis do sister chromatids separate?",
        ["Prophase", "Metaphase", "Anaphase", "Telophase"],
        "simple",
    ),
    ("The Magna Carta was sealed in", ["1066", "1215", "1492", "1688"], "simple"),
    (
        "Which of the following best describes the function of the loop of Henle?",
        [
            "Filtration of blood plasma",
            "Creating a concentration gradient in the medulla",
            "Secretion of renin",
            "Reabsorption of glucose",
        ],
        "moderate",
    ),
    (
        "A price ceiling set below the equilibrium price will most likely cause",
        ["a surplus", "a shortage", "no change in quantity", "a rise in supply"],
        "simple",
    ),
    (
        "Which philosopher wrote 'Leviathan'?",
        ["John Locke", "Thomas Hobbes", "Jean-Jacques Rousseau", "David Hume"],
        "simple",
    ),
    (
        "The primary mechanism of action of beta-lactam antibiotics is",
        [
            "inhibition of protein synthesis",
            "inhibition of cell wall synthesis",
            "disruption of DNA gyrase",
            "blocking folate synthesis",
        ],
        "moderate",
    ),
    (
        "Which amendment to the U.S. Constitution abolished slavery?",
        ["First", "Thirteenth", "Fifteenth", "Nineteenth"],
        "simple",
    ),
    (
        "In Piaget's theory, object permanence develops during which stage?",
        ["Sensorimotor", "Preoperational", "Concrete operational", "Formal operational"],
        "simple",
    ),
    (
        "Which of the following is a characteristic of a monopolistically competitive market?",
        [
            "Identical products",
            "Many firms selling differentiated products",
            "A single seller",
            "High barriers to entry",
        ],
        "moderate",
    ),
    (
        "The main function of the ribosome is",
        ["lipid synthesis", "protein synthesis", "ATP production", "DNA replication"],
        "simple",
    ),
    (
        "Which empire built the road network known as the Qhapaq Ñan?",
        ["Aztec", "Maya", "Inca", "Olmec"],
        "simple",
    ),
    (
        "A tort that requires proof of duty, breach, causation and damages is",
        ["battery", "negligence", "defamation", "trespass"],
        "moderate",
    ),
    (
        "Which hormone triggers ovulation?",
        ["Estrogen", "Progesterone", "Luteinizing hormone", "Prolactin"],
        "simple",
    ),
    (
        "The Bretton Woods system established",
        [
            "floating exchange rates",
            "fixed exchange rates pegged to the U.S. dollar",
            "the euro",
            "the gold standard for all currencies",
        ],
        "moderate",
    ),
    (
        "Which of the following cranial nerves controls most muscles of facial expression?",
        ["Trigeminal", "Facial", "Vagus", "Hypoglossal"],
        "moderate",
    ),
    (
        "Which sociologist introduced the concept of 'anomie'?",
        ["Max Weber", "Émile Durkheim", "Karl Marx", "Erving Goffman"],
        "moderate",
    ),
    (
        "The Meiji Restoration took place in which country?",
        ["China", "Korea", "Japan", "Vietnam"],
        "simple",
    ),
    (
        "A virus that integrates its genome into the host DNA using reverse transcriptase is a",
        ["bacteriophage", "retrovirus", "prion", "viroid"],
        "simple",
    ),
    (
        "Which of the following is NOT a function of the World Trade Organization?",
        [
            "Settling trade disputes",
            "Setting national interest rates",
            "Administering trade agreements",
            "Providing a forum for negotiations",
        ],
        "moderate",
    ),
    (
        "In a parliamentary system, the head of government is usually",
        [
            "directly elected",
            "the leader of the majority party or coalition",
            "appointed by the courts",
            "a hereditary monarch",
        ],
        "simple",
    ),
    (
        "Which of the following best explains the high specific heat of water?",
        ["Covalent bonds", "Hydrogen bonding", "Ionic bonding", "Van der Waals forces only"],
        "moderate",
    ),
    (
        "The 'Lost Generation' refers to writers active mainly in the",
        ["1850s", "1920s", "1960s", "1990s"],
        "simple",
    ),
    (
        "Which type of immunity is provided by a vaccine?",
        ["Natural passive", "Artificial active", "Natural active", "Artificial passive"],
        "moderate",
    ),
    (
        "A contract signed by a minor is generally",
        ["void", "voidable by the minor", "fully enforceable", "illegal"],
        "moderate",
    ),
]
MC_FORMATS = [
    "{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:",
    "{q}\nA) {a}\nB) {b}\nC) {c}\nD) {d}",
    "Question: {q}\n(A) {a} (B) {b} (C) {c} (D) {d}\nChoose the correct answer.",
]


def main() -> None:
    """Write the supplement file (deterministic)."""
    rng = random.Random(7)
    rows = []
    for k in range(240):
        multi = k % 3 != 0
        template = rng.choice(MULTI_STEP if multi else ONE_STEP)
        name = rng.choice(NAMES)
        item, container = rng.choice(ITEMS)
        pron = rng.choice([("She", "she"), ("He", "he"), ("They", "they")])
        text = template.format(
            n=name,
            i=item,
            c=container,
            p=pron[0],
            p2=pron[1],
            a=rng.randint(12, 90),
            b=rng.randint(2, 12),
            c1=rng.randint(2, 9),
            d=rng.randint(2, 6),
            e=rng.randint(3, 9),
        )
        prefix = rng.choice(CHATTY)
        if prefix:
            text = prefix + text
        rows.append(
            {
                "id": f"supplement-math-{k:03d}",
                "prompt": text,
                "domain": "math",
                "complexity": "moderate" if multi else "simple",
                "lang": "en",
            }
        )
    for k, (q, options, complexity) in enumerate(MC * 3):
        opts = options[:]
        rng.shuffle(opts)
        fmt = MC_FORMATS[k % len(MC_FORMATS)]
        text = fmt.format(q=q, a=opts[0], b=opts[1], c=opts[2], d=opts[3])
        if any(r["prompt"] == text for r in rows):
            continue  # the shuffle repeated an earlier copy's order and format
        rows.append(
            {
                "id": f"supplement-knowledge-{k:03d}",
                "prompt": text,
                "domain": "knowledge",
                "complexity": complexity,
                "lang": "en",
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    print(f"wrote {len(rows)} rows to {OUT}")  # noqa: T201


if __name__ == "__main__":
    main()
