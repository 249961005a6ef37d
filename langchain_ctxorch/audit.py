"""Form vs facts: find volatile facts baked into the instruction layer.

A system prompt should carry *form* (role, tone, output schema, refusal and reasoning rules): it is
stable, so it forms the cache-friendly prefix. *Facts that change* (prices, dates, versions,
limits, contact details, "as of" statements) belong in the KNOWLEDGE layer: pasted into the prompt
they are paid for on every call, go stale silently, and every edit invalidates the provider's prompt
cache.

Key types:

- `audit_instructions` / `aaudit_instructions`: split instructions into sentences and classify
  each one as ``"fact"`` or ``"form"`` with deterministic heuristics (an optional chat model may
  refine the verdicts).
- `AuditFinding`: one sentence: its exact text and offsets, ``kind``, ``reason``, the signals that
  fired, its tokens and, for facts, a suggested KNOWLEDGE `ContextItem` with a ``fact_key``.
- `InstructionAudit`: all findings, with token totals, ``to_dict()`` and a readable ``str()``.

Example:
    ```python
    audit = audit_instructions(
        "You are a support agent for Acme. Answer in two sentences. The Pro plan costs $49/month."
    )
    [(f.kind, f.text) for f in audit.findings]
    # [('form', 'You are a support agent for Acme.'),
    #  ('form', 'Answer in two sentences.'),
    #  ('fact', 'The Pro plan costs $49/month.')]
    audit.facts[0].suggested_item.fact_key  # 'price:pro-plan-costs-month'
    ```
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from langchain_ctxorch.items import ContextItem, Layer, Trust, message_text, stable_hash
from langchain_ctxorch.scoring import ENGLISH_STOP_WORDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from langchain_ctxorch.tokens import TokenCounter

__all__ = [
    "REFINE_INSTRUCTIONS",
    "AuditFinding",
    "AuditKind",
    "InstructionAudit",
    "aaudit_instructions",
    "audit_instructions",
    "split_sentences",
]

AuditKind = Literal["fact", "form"]
"""A sentence of the instructions is either a volatile ``fact`` or stable ``form``."""


# --------------------------------------------------------------------------------------------
# Sentence splitting
# --------------------------------------------------------------------------------------------

_ABBREVIATIONS = frozenset(
    """e.g i.e etc vs mr mrs ms dr st jr sr inc ltd co corp no nos approx dept est fig max min
    p.m a.m u.s u.k ca cf al resp""".split()
)
_BULLET = re.compile(r"[ \t]*(?:[-*•·‣▪●◦+>]|\d{1,3}[.)]|[a-zA-Z][.)](?=\s)|#{1,6})?[ \t]*")
# The look-behinds keep a match from starting inside a run of "!!!": without them every position
# of a long run would rescan the rest of it (quadratic time on "!" * 20000).
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]+[\"'”’)\]]*(?=\s)|(?<![.!?])[.!?]+(?=[\"“(]?[A-Z])")
_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
_HAS_WORD = re.compile(r"[^\W\d_]{2,}")
_PLACEHOLDER = re.compile(r"\{\{?[^{}\n]{0,80}\}?\}|\[[A-Z_ ]{2,40}\]|<[a-z_]{2,40}>")


def _segments_of_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans within one line ``text[start:end]``."""
    out: list[tuple[int, int]] = []
    seg_start = start
    for m in _BOUNDARY.finditer(text, start, end):
        cut = m.end()
        # Only the word before the boundary matters: look at a bounded window (linear time).
        before = text[max(seg_start, m.start() - 40) : m.start()]
        last = before.rsplit(None, 1)[-1] if before.split() else ""
        word = last.lower().strip("([\"'").rstrip(".")
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        # "$2.5", "v1.2", "www.site.com": no boundary inside a token (regex guarantees a space or
        # a capital follows); a lower-case letter before and a capital after is a missing space.
        if m.group().startswith(".") and cut < end and not text[cut].isspace():
            prev = text[m.start() - 1] if m.start() > 0 else " "
            nxt = text[cut : cut + 2] + " "
            if not (prev.islower() and nxt[0].isupper() and nxt[1].islower()):
                continue
        out.append((seg_start, cut))
        seg_start = cut
    out.append((seg_start, end))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop leading bullets/whitespace and trailing whitespace from a span."""
    m = _BULLET.match(text, start, end)
    if m is not None and m.end() > start:
        start = m.end()
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str) -> list[tuple[int, int]]:
    r"""Split instructions into sentence spans ``(start, end)``: ``text[start:end]`` is exact.

    Lines are split first (list items and headings are their own sentences), then sentences
    inside a line at ``. ! ?`` followed by a space or a capital, skipping common abbreviations,
    decimals, versions and domain names. A fenced code block (```` ``` ````) is one span. Leading
    bullets and list numbers are left out of the span; spans without a word are skipped.

    Example:
        ```python
        text = "- Be brief. Use JSON.\nPrices: $5.50 e.g. for tea."
        [text[s:e] for s, e in split_sentences(text)]
        # ['Be brief.', 'Use JSON.', 'Prices: $5.50 e.g. for tea.']
        ```
    """
    return [(start, end) for start, end, _ in _split_blocks(text)]


def _split_blocks(text: str) -> list[tuple[int, int, int]]:
    """Sentence spans with the number of the line (or code block) each one comes from."""
    spans: list[tuple[int, int, int]] = []
    pos = 0
    n = len(text)
    block = 0
    fences = list(_FENCE.finditer(text))
    blocks: list[tuple[int, int]] = []
    for i in range(0, len(fences) - 1, 2):
        close_line_end = text.find("\n", fences[i + 1].end())
        blocks.append((fences[i].start(), n if close_line_end < 0 else close_line_end))
    for b_start, b_end in [*blocks, (n, n)]:
        line_start = pos
        while line_start < b_start:
            line_end = text.find("\n", line_start, b_start)
            if line_end < 0:
                line_end = b_start
            for s, e in _segments_of_line(text, line_start, line_end):
                s2, e2 = _trim(text, s, e)
                if e2 > s2 and _HAS_WORD.search(_PLACEHOLDER.sub(" ", text[s2:e2])):
                    spans.append((s2, e2, block))
            block += 1
            line_start = line_end + 1
        if b_end > b_start:
            s2, e2 = _trim(text, b_start, b_end)
            if e2 > s2:
                spans.append((s2, e2, block))
            block += 1
        pos = b_end + 1
    return spans


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_FORMAT_UNITS = (
    r"(?:sentences?|words?|paragraphs?|bullets?|bullet points?|points?|lines?|characters?|chars?|"
    r"tokens?|results?|examples?|suggestions?|steps?|options?|questions?|times?|emojis?|rows?|"
    r"columns?|turns?|tries|attempts?|queries|query|items?|choices?|answers?|responses?|"
    r"sections?|headings?|stars?|spaces?|tabs?|digits?|decimals?|decimal places?|"
    r"letters?|keywords?|tags?|hashtags?|ideas?|variations?|alternatives?|messages?|replies|"
    r"reply|calls?|tool calls?|iterations?|rounds?|categories|category|labels?|scores?)"
)
_BUSINESS_UNITS = (
    r"(?:k|m|bn|gb|mb|tb|kb|gib|mib|users?|seats?|licen[cs]es?|accounts?|devices?|days?|"
    r"business days?|hours?|hrs?|weeks?|months?|years?|yrs?|minutes?|mins?|seconds?|secs?|"
    r"orders?|requests?|credits?|miles?|km|kg|g|lbs?|pounds?|ounces?|oz|liters?|litres?|ml|"
    r"meters?|metres?|feet|ft|inches|units?|employees?|customers?|members?|countries|stores?|"
    r"locations?|offices?|nights?|guests?|people|persons?|passengers?|bags?|pieces?|tickets?|"
    r"projects?|files?|uploads?|downloads?|api calls?|rpm|tpm|qps|mbps|gbps|kwh|mph|kmh|"
    r"tiers?|plans?|gb|tb|mg|mcg|µg)"
)

_GAP_WORD = (
    r"(?!(?:the|a|an|of|to|for|in|on|at|and|or|with|per|from|by|is|are|be|was|were|than|"
    r"your|their|each|every|step|steps)\b)[a-z][a-z-]*"
)
"""A describing word between a number and its unit ("2 *free checked* bags")."""
_LIMIT_WORDS = (
    r"(?:at most|up to|only|maximum of|a maximum of|max(?:imum)?|no more than|"
    r"limit(?:ed)? (?:of|to)|at least|minimum of|a minimum of|more than|fewer than|less than)"
)
_SPELLED = r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"

_NOT_PRODUCT = (
    r"For|In|On|At|By|To|Of|From|Since|Until|Unlike|Before|After|Over|Under|Within|Page|Step|"
    r"Rule|Chapter|Section|Level|Option|Example|Table|Figure|Clause|Article|Part|Item|Question|"
    r"Answer|Line|Round|Turn|Phase|Stage|Day|Week|Task|Point|Case|Score|Rating|Scale|Id|Number|"
    r"Tip|Note|Priority|Tier|Category|Type|Grade|Top|Click|Press|Choose|Select|Template|"
    r"Variant|Scenario|Strategy|Method|Approach|Mode|Persona|Attempt|Trial|Iteration|Sample|"
    r"Test|Prompt|Message|Version|Below|Above|Between|Less|More"
)
_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "price",
        re.compile(
            r"[$€£¥₹]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:k|m|bn|million|billion)\b)?|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|eur|gbp|jpy|inr|chf|cad|aud|dollars?|"
            r"euros?|cents?|pounds sterling|bucks)\b|\b(?:usd|eur|gbp)\s?\d|"
            r"\b(?:monthly fee|subscription fee|at no (?:extra |additional )?(?:cost|charge)|"
            r"free of charge)\b|"
            # A billing period is a price only next to an amount ("49 per month", "$5/mo").
            r"(?<=\d)\s?(?:per month|/month|/mo\b|/year|/yr\b|a month|per year|annually)\b|"
            # A bare cost word is a price only with an amount after it ("costs 49 euros").
            r"\b(?:costs?|priced at|price is|fee of|charge of|discount|refund of)\b"
            r"(?=[^\d\n.]{0,40}\d)",
            re.IGNORECASE,
        ),
    ),
    ("percentage", re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)),
    (
        "date",
        re.compile(
            r"\b(?:19|20)\d{2}-\d{1,2}(?:-\d{1,2})?\b|\b\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})\b|"
            rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?"
            rf"{_MONTHS}\b|\b{_MONTHS}\.?,?\s+(?:19|20)\d{{2}}\b|\b(?:19|20)\d{{2}}s?\b|"
            r"\bq[1-4]\b|\bfy\s?\d{2,4}\b|\bh[12]\s+(?:19|20)\d{2}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "time",
        re.compile(
            r"\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?=\W|$)|\b\d{1,2}:\d{2}\b|"
            r"\b(?:utc|gmt|est|edt|cst|cdt|pst|pdt|cet|cest|ist)\b|"
            r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b",
            re.IGNORECASE,
        ),
    ),
    (
        "version",
        re.compile(
            r"\bv\d+(?:\.\d+)*\b|\bversion\s+\d|\b\d+\.\d+\.\d+\b|\brelease\s+\d|"
            r"\b(?:gpt|claude|gemini|llama|mistral|python|ios|android|windows|macos|node)"
            r"[- ]?\d+(?:\.\d+)?[a-z]?\b",
            re.IGNORECASE,
        ),
    ),
    (
        "url",
        re.compile(
            r"\bhttps?://[^\s<>\"']*[^\s<>\"'.,;:!?)\]”’]|\bwww\.[^\s<>\"']*[^\s<>\"'.,;:!?)\]”’]|\b[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,4}\."
            r"(?:com|org|net|io|gov|edu|ai|dev|co|uk|de|fr|app|info|biz)\b(?!\.\w)",
            re.IGNORECASE,
        ),
    ),
    ("email", re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,4}\b")),
    (
        "phone",
        re.compile(
            r"(?:\+\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b|\+\d[\d\s-]{8,}\d|"
            # A labelled local number ("Phone: 0963555552").
            r"(?i:\b(?:phone|tel|telephone|mobile|cell|whatsapp|hotline)\b\W{0,4})\d[\d\s/.-]{6,}\d"
        ),
    ),
    (
        "quantity",
        re.compile(
            rf"\b\d[\d,]*(?:\.\d+)?\s?-?\s?{_BUSINESS_UNITS}\b|\b(?:up to|at least|at most|"
            r"maximum of|minimum of|limit of|more than|less than|over|under|within)\s+\d[\d,]*"
            r"(?:\.\d+)?\b(?!\s*(?:-\s*)?" + _FORMAT_UNITS + r"\b)|\bage\s+\d+|\baged?\s+\d+|"
            # "2 free checked bags": up to three describing words between number and unit.
            rf"\b\d[\d,]*(?:\.\d+)?\s+(?:{_GAP_WORD}\s+){{1,3}}{_BUSINESS_UNITS}\b|"
            # "at most five passengers": a spelled number after a limit word, then the unit.
            rf"\b{_LIMIT_WORDS}\s+{_SPELLED}\s+(?:{_GAP_WORD}\s+){{0,3}}{_BUSINESS_UNITS}\b|"
            # "four loyalty tiers": a spelled count of business units.
            rf"\b(?:two|three|four|five|six|seven|eight|nine|ten)\s+(?:{_GAP_WORD}\s+){{0,2}}"
            r"(?:tiers|plans|locations|stores|branches|offices)\b|"
            # "50 types of products": the size of a catalogue.
            r"\b\d[\d,]*\s+(?:types|kinds|varieties|flavou?rs|sizes|colou?rs|models|brands|"
            r"styles|editions)\s+of\b",
            re.IGNORECASE,
        ),
    ),
    (
        "product",
        re.compile(
            r"\b(?!(?:" + _NOT_PRODUCT + r")\b)(?:[A-Z][a-z]+|i[A-Z][a-z]+)[- ]"
            r"(?!(?:19|20)\d{2}\b)\d{1,4}[a-zA-Z]?\b(?!\s*(?:-\s*)?" + _FORMAT_UNITS + r"\b)|"
            r"(?i:\b(?:basic|pro|plus|premium|enterprise|starter|business|team|free|gold|silver|"
            r"platinum)\s+(?:plan|tier|subscription|edition|membership|package)s?\b)|"
            # A product line-up: a name and its variants ("airpods, airpods pro and airpods max").
            r"(?i:\b([a-z][a-z0-9-]{2,})\b[^.\n]{0,60}?\b\1\s+(?:pro|max|mini|plus|ultra|lite|"
            r"air|se|xl)\b)|\b[A-Z][a-zA-Z]+ (?:Pro|Max|Mini|Ultra|Lite)\b(?! (?:plan|tier)s?\b)",
        ),
    ),
    (
        "temporal",
        re.compile(
            r"\b(?:as of|currently|at the moment|at present|presently|for now|this (?:week|month|"
            r"quarter|year|season|semester)|next (?:week|month|quarter|year)|last (?:week|month|"
            r"quarter|year)|previous (?:\w+ )?(?:year|quarter|month)|today(?:'s date)? is|current "
            r"(?:date|time|year|month|version|price|rate|season|model)|knowledge cut-?off|"
            r"last updated|"
            r"recently|latest|now available|no longer|until further notice|effective "
            r"(?:from|on|immediately|date)|deadline|expires?|expiry|valid (?:until|through|till)|"
            r"limited[- ]time|temporar(?:y|ily)|changed|revised|reverts?|introduced|launched|"
            r"discontinued)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "person",
        re.compile(
            r"\b(?:ceo|cto|cfo|coo|founder|co-founder|president|chair(?:man|woman|person)?|"
            r"owner|managing director|head of [a-z]+)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "provider",
        re.compile(
            # "You are MistralOrca, a large language model trained by Alignment Lab AI."
            r"\b(?:language model|ai (?:assistant|model|language model)|chatbot|model)\b"
            r"[^.\n]{0,40}?"
            r"\b(?:trained|developed|created|built|made|released|fine-tuned)\s+by\s+"
            r"(?-i:[A-Z][\w.-]*)|\butili[sz]ing the (?-i:[A-Z][\w.-]*)",
            re.IGNORECASE,
        ),
    ),
    (
        "contact",
        re.compile(
            r"\b(?:located (?:at|in|on)|headquartered|our (?:office|store|address|headquarters|"
            r"hotline|phone number)|call us|opening hours|business hours|open (?:from|daily|"
            r"\d))\b|"
            # A street address ("123 Main St", "on Elm Street"); the names are case-sensitive.
            r"\b\d{1,5}\s+(?-i:(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|"
            r"Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq|Highway|Hwy))\b|"
            r"(?-i:\b(?:[A-Z][a-z]+\s){1,2}(?:Street|Avenue|Road|Boulevard|Lane|Drive|Highway))\b",
            re.IGNORECASE,
        ),
    ),
    (
        "offer",
        re.compile(
            r"\b(?:amenities|services|products|facilities|treatments|dishes|menu items|"
            r"specials|flavou?rs|brands|classes|courses|programs|programmes|packages|perks|"
            r"benefits|cuisines?|drinks|cocktails|rooms|suites|destinations),?\s+"
            r"(?:like|such as|including|include|includes|are|:)\s+[^.,;\n]{1,40}"
            r"(?:,[^.,;\n]{1,40}){1,}",
            re.IGNORECASE,
        ),
    ),
)
_FORMATTABLE = frozenset({"quantity", "date", "product"})
"""Signals whose numbers may belong to a format rule instead of a fact."""
_WEAK_SIGNALS = frozenset({"temporal", "person"})
_SOFT_SIGNALS = _WEAK_SIGNALS | {"entity", "business"}
"""Signals too soft to make a lead-in ("Customer Support:") open a list of facts."""
_HARD_SIGNALS = frozenset(
    {
        "price",
        "percentage",
        "date",
        "time",
        "version",
        "url",
        "email",
        "phone",
        "quantity",
        "slot",
        "provider",
    }
)
"""Signals that make even a heading a fact; the others need a sentence around them."""
"""Signals that mark a fact only in a statement, not in a rule ("use the current date")."""

_SIGNAL_LABEL = {
    "price": "price or currency",
    "percentage": "percentage",
    "date": "date or year",
    "time": "time, weekday or time zone",
    "version": "version or model number",
    "url": "URL or domain",
    "email": "e-mail address",
    "phone": "phone number",
    "quantity": "quantity or limit",
    "product": "product or plan name",
    "temporal": "time-bound wording",
    "contact": "location or contact detail",
    "person": "who holds a role (CEO, founder...)",
    "offer": "what is offered (amenities, services, products...)",
    "business": "what the business offers, accepts or is (we / our ... / the <place>)",
    "provider": "who made the model (trained or developed by ...)",
    "entity": "declarative statement about a named entity",
    "slot": "template slot filled per call (date, time, model, location, user...)",
    "policy": "business rule (a constraint on an order, booking, payment, customer...)",
}

_FORM_START = re.compile(
    r"^(?:always|never|do|don'?t|does|use|respond|answer|reply|write|return|output|format|"
    r"provide|keep|be|make|ensure|avoid|include|begin|start|end|think|if|when|whenever|only|"
    r"please|remember|follow|ask|explain|cite|refuse|stay|consider|pay|given|here|below|above|"
    r"you|your|i|i'm|as(?! of)|act|assume|assist|help|focus|list|summari[sz]e|translate|generate|"
    r"create|identify|determine|check|verify|select|choose|rate|score|evaluate|classify|"
    r"extract|rewrite|read|review|limit|state|show|present|structure|wrap|enclose|separate|"
    r"each|every|all|any|for|in|to|after|before|once|first|then|finally|otherwise|note|"
    r"important|must|should|using|(?:there is )?no need|speak|say|tell|inform|greet|add|"
    r"suggest|confirm|collect|clarify|escalate|maintain|prioriti[sz]e|rely|handle|apply|"
    r"monitor|recall|complete|construct|synthesi[sz]e|integrate|highlight|prevent|organi[sz]e|"
    r"proceed|mention|let|try|detect|analy[sz]e|describe|compare|find|get|go|take|send|obtain|"
    r"gather|encourage|recommend|introduce|welcome|remind|mimic|imagine|pretend|emulate|adopt|"
    r"treat|interpret|convert|calculate|compute|modify|cancel|preserve|plan|inform|offer|"
    r"share|update|edit|fix|run|call|search|look|lookup|fetch|record|note|log|store|save|"
    r"remove|delete|replace|insert|fill|pick|match|set|test|avoid|skip|ignore|stop|wait|"
    r"pause|repeat|resume|retry|reject|accept|acknowledge|apologi[sz]e|thank|guide|walk|"
    r"lead|route|transfer|hand|book|schedule|reserve|notify|report|draft|design|build|"
    r"implement|propose|request|respect|protect|double-check|discuss|elaborate|expand|"
    r"shorten|simplify|split|group|sort|rank|filter|combine|merge|quote|copy|paste|"
    r"capitali[sz]e|spell|mark|label|tag|flag|include|exclude|reference|link|contact|base|"
    r"the (?:assistant|ai|model|user|response|answer|output|agent|bot|chatbot)|"
    r"assistant|ai|step|task|goal|role|instructions?|rules?|guidelines?|context|question|"
    r"input|thought|action|observation|final|example|examples|query|sqlquery|sqlresult)\b",
    re.IGNORECASE,
)
_PERSONA = re.compile(
    r"^(?:you|your|i|i'm|assistant|the assistant|ai|the ai|the model|my|this assistant|"
    r"the agent|the bot|the chatbot|"
    r"[A-Z][a-z]+ (?:is|will) (?:an? )?(?:ai|assistant|chatbot|bot|helpful))\b",
    re.IGNORECASE,
)
_ENTITY_VERB = re.compile(
    r"\b(?:offers?|provides?|costs?|charges?|sells?|ships?|accepts?|supports?|includes?|covers?|"
    r"founded|owns?|operates?|employs?|serves?|delivers?|opens?|closes?|launche[sd]|releases?|"
    r"qualif(?:y|ies)|eligible|entitled|worth|valid)\b",
    re.IGNORECASE,
)
_ENTITY_WORD = re.compile(r"(?<=[\w,;:] )[A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*|\b[A-Z]{2,6}\b")
_NOT_ENTITY = frozenset(
    """I JSON YAML XML HTML CSS SQL API APIs AI LLM URL URLs ID IDs UTF ASCII CSV PDF Markdown
    English Python JavaScript TypeScript Human Assistant User System Thought Action Observation
    Final Answer Question Input Output Context Response Use Do Never Always TERMINATE OK True
    False None Yes No NOT ONLY MUST NEVER ALWAYS DO DON IMPORTANT NOTE""".split()
)
_FORMAT_WORD = re.compile(
    r"\b(?:json|markdown|schema|format(?:ted|ting)?|tone|style|concise|polite|friendly|"
    r"professional|bullet|table|step[- ]by[- ]step|persona|respond|reply|answer|language|"
    r"refuse|decline|do not|don't|never|always|must|should|instructions?)\b",
    re.IGNORECASE,
)
_FORMAT_CONTEXT = re.compile(
    # "3-5 sentences": the second number needs its separator, or a run of digits would be split
    # every which way between two \d quantifiers (quadratic time on "1" * 6000).
    rf"\b\d+\s*(?:(?:-|to|or)\s*\d+\s*)?{_FORMAT_UNITS}\b|"
    r"\b(?:12|24)[- ]hours? (?:based|format|clock|time)\b|"
    r"\b(?:scale|score|rating|rate|grade)(?: \w+){0,3}? (?:of|from|between|as)\s+\d+"
    r"(?:\s*(?:-|to|and)\s*\d+)?",
    re.IGNORECASE,
)


_TIME_ZONE = re.compile(r"utc|gmt|est|edt|cst|cdt|pst|pdt|cet|cest|ist", re.IGNORECASE)
_DATA_FORMAT = re.compile(
    r"\b(?:database|db|timestamps?|schema|column|field|records?|logs?|24[- ]hours?(?: based)?)\b",
    re.IGNORECASE,
)
"""A sentence describing how data is stored: its time zone is a format, not a fact."""


_UNIT_AFTER = re.compile(rf"\s*(?:-\s*)?{_BUSINESS_UNITS}\b", re.IGNORECASE)


_INLINE_EXAMPLE = re.compile(
    r"\b(?:e\.g\.|for example|for instance)[^)\]\n]*|"
    # A numeric date in quotes is a sample value ("For date of birth "01/15/1990":").
    r"(?<=[\"'`])\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}(?=[\"'`])",
    re.IGNORECASE,
)
"""Text after an inline "e.g." (up to a closing bracket) and quoted sample dates are examples."""


def _blank_example(m: re.Match[str]) -> str:
    """Blank an inline example, unless it sits in a fill-in field ("Hours: [e.g., 9-5]")."""
    text, start = m.string, m.start()
    if text.rfind("[", 0, start) > text.rfind("]", 0, start):
        return m.group()
    return " " * len(m.group())


def _mask(sentence: str) -> str:
    """``sentence`` with each template slot replaced by ``x`` and spaces (offsets are kept).

    A slot stands for a word, so ``"{file}: Write tests"`` still reads as a label and a rule; a
    template tag (``{% raw %}``, ``{# note #}``) or markup (``<td>``) stands for nothing and
    becomes spaces.
    """
    return _PLACEHOLDER.sub(
        lambda m: (
            " " * len(m.group())
            if m.group().startswith(("{%", "{#", "<"))
            else "x" + "_" * (len(m.group()) - 1)
        ),
        sentence,
    )


def _fact_signals(sentence: str) -> list[tuple[str, str]]:
    """The fact signals in ``sentence`` as ``(signal, matched text)`` pairs, in signal order."""
    masked = _INLINE_EXAMPLE.sub(_blank_example, _mask(sentence))
    out: list[tuple[str, str]] = []
    statement = _is_statement(masked)
    format_spans = [(m.start(), m.end()) for m in _FORMAT_CONTEXT.finditer(masked)]
    starts = [start for start, _ in format_spans]
    for name, pattern in _SIGNALS:
        if name in _WEAK_SIGNALS and not statement:
            continue
        found = [
            m
            for m in pattern.finditer(masked)
            if (name not in _FORMATTABLE or not _in_format_context(format_spans, starts, m))
            # "not more than 1-3" in a rule: a limit without a unit is a format rule
            and (
                name != "quantity"
                or statement
                or not m.group()[-1].isdigit()
                or _UNIT_AFTER.match(masked, m.end()) is not None
            )
        ]
        if name == "time" and _DATA_FORMAT.search(masked):
            # "All times in the database are EST": a time zone in a data schema is format.
            found = [m for m in found if not _TIME_ZONE.fullmatch(m.group())]
        if found:
            # Prefer a match with a number ("$49") over a bare keyword ("costs").
            best = next((m for m in found if any(c.isdigit() for c in m.group())), found[0])
            out.append((name, best.group().strip()))
    if not statement and [name for name, _ in out] == ["quantity"] and _behaviour_limit(masked):
        out = []
    slot = _slot_signal(sentence)
    if slot:
        out.append(("slot", slot))
    policy = _policy_rule(masked)
    if policy:
        out.append(("policy", policy))
    if not out and statement:
        business = _business_statement(masked)
        if business:
            out.append(("business", business))
        elif entity := _entity_statement(masked):
            out.append(("entity", entity))
    return out


_INTERACTION_LIMIT = re.compile(
    rf"\b(?:\d+|{_SPELLED})\s+(?:seconds?|secs?|minutes?|mins?|files?)\b", re.IGNORECASE
)


_LIMITING = re.compile(
    rf"\b(?:{_LIMIT_WORDS}|never|exceed|longer than|within|only)\b", re.IGNORECASE
)


def _behaviour_limit(sentence: str) -> bool:
    """True for a limit on the agent's own behaviour in a rule, not on a business object.

    "Never leave the user in silence for more than 10 seconds", "Implement only one file": a
    threshold in seconds, minutes or files in a rule that names no business object and no
    customer is form. "Tell guests check-in takes 15 minutes" names guests, so it stays a fact.
    """
    if not _INTERACTION_LIMIT.search(sentence) or not _LIMITING.search(sentence):
        return False
    words = set(_SLOT_WORD.findall(sentence.lower()))
    return not words & (_BUSINESS_NOUNS | _AMBIGUOUS_NOUNS | _CUSTOMER_NOUNS)


def _in_format_context(
    spans: Sequence[tuple[int, int]], starts: Sequence[int], match: re.Match[str]
) -> bool:
    """True when a match overlaps a format rule ("3 bullet points", "a scale of 1 to 10").

    ``spans`` are the sentence's format-rule spans in order (they do not overlap) and ``starts``
    their start offsets, so the check is a binary search.
    """
    i = bisect.bisect_right(starts, match.start()) - 1
    for j in (i, i + 1):
        if 0 <= j < len(spans):
            start, end = spans[j]
            if start < match.end() and match.start() < end:
                return True
    return False


_LEAD_MARKUP = "\"'“(*_ "
_LABEL_PREFIX = re.compile(
    r"(?:\[[^\]\n]{1,40}\]:?|`[^`\n]{1,40}`:?|[A-Za-z][\w'&/-]*(?: [\w'&/-]+){0,3}:)(?:\s+|$)"
)
_CONNECTIVE = re.compile(
    r"(?:furthermore|moreover|also|however|additionally|in addition|besides|likewise|similarly|"
    r"therefore|thus|hence|then|and|but|so|finally|otherwise|instead|meanwhile|again|lastly|"
    r"next|in particular|importantly|generally|overall|now)\b,?\s*",
    re.IGNORECASE,
)


def _openings(sentence: str) -> list[str]:
    """The sentence, then the sentence without leading labels and connectives, for opener checks.

    ``"[NOTE]: Furthermore, you may ..."`` yields the full text, ``"Furthermore, you may ..."``
    and ``"you may ..."``: a rule hides behind a label (``"DATA GROUNDING: Only report ..."``) or a
    connective as often as it starts the sentence.
    """
    out = [sentence.lstrip(_LEAD_MARKUP)]
    for _ in range(3):
        current = out[-1]
        m = _LABEL_PREFIX.match(current) or _CONNECTIVE.match(current)
        if m is None or m.end() == 0 or m.end() >= len(current):
            break
        out.append(current[m.end() :].lstrip(_LEAD_MARKUP))
    return out


def _is_rule_opening(sentence: str) -> bool:
    """True when the sentence (or it without a leading label/connective) opens like a rule."""
    return any(_FORM_START.match(o) or _PERSONA.match(o) for o in _openings(sentence))


def _is_statement(sentence: str) -> bool:
    """True for a declarative statement (not a rule, persona line, heading or question)."""
    stripped = sentence.lstrip(_LEAD_MARKUP)
    if _is_rule_opening(stripped):
        return False
    return not stripped.endswith((":", "?")) and len(_FORMAT_WORD.findall(stripped)) < 2  # noqa: PLR2004


def _entity_statement(sentence: str) -> str:
    """The named entity of a declarative sentence about the world, or "" for anything else.

    Capitals carry no information in a mostly upper-case sentence, and the first word after a
    label colon ("Context: Answer ...") is capitalised by position, so neither counts as a name.
    """
    stripped = _openings(sentence)[-1]
    if not _is_statement(sentence) or not _ENTITY_VERB.search(stripped):
        return ""
    letters = [c for c in stripped if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) * 2 > len(letters):
        return ""
    for m in _ENTITY_WORD.finditer(stripped):
        words = m.group().split()
        if all(w in _NOT_ENTITY for w in words):
            continue
        return m.group()
    return ""


_SLOT_CUES = frozenset(
    """date time datetime today now year month timestamp cutoff cut-off model version location
    city country region timezone tz utc os platform shell locale directory cwd latitude longitude
    lat lon coordinates""".split()
)
"""Words that make a template slot volatile: its name or the words just before it."""
_CURRENCY = frozenset("$€£¥₹")
_IDENTIFIER_SLOT = re.compile(r"\{\{?[a-z_]\w*\}?\}$")
_SLOT_PEOPLE = frozenset("user customer client caller member guest patient human".split())
_SLOT_WORD = re.compile(r"[a-z][a-z'-]*")


def _slot_signal(sentence: str) -> str:
    """A template slot filled per call with a volatile value ("{current_date}", "{{model}}").

    The slot counts when its name or one of the four words before it names a date, time, model,
    version, location, OS or shell, or a user's or customer's name ("The customer's name is
    {name}"), whatever the opener: "Assume the current date is {current_date}" is a fact.
    XML-style tags (``<user_request>``) are markup, not slots.
    """
    for m in _PLACEHOLDER.finditer(sentence):
        slot = m.group()
        if slot.startswith("<"):
            continue
        name = _SLOT_WORD.findall(slot.lower().replace("_", " "))
        before = _SLOT_WORD.findall(sentence[max(0, m.start() - 48) : m.start()].lower())[-4:]
        words = [w.removesuffix("'s") for w in (*before, *name)]
        if any(w in _SLOT_CUES for w in words):
            return slot
        if sentence[max(0, m.start() - 1) : m.start()] in _CURRENCY and _IDENTIFIER_SLOT.match(
            slot
        ):
            return slot  # "Monthly Premium: ${monthly_premium}": an amount filled per call
        if any(w == "name" and i > 0 and words[i - 1] in _SLOT_PEOPLE for i, w in enumerate(words)):
            return slot
        if any(w in _BUSINESS_SLOT_CUES for w in words):
            return slot  # "Items in cart: {cartItems}", "Policy ID: {{ policy_id }}"
    return ""


_BUSINESS_SLOT_CUES = frozenset(
    """cart subtotal currency policy coverage order orders account balance plan premium invoice
    booking reservation ticket""".split()
)
"""Business data filled into a slot per call: the customer's cart, order, policy or plan."""


_BUSINESS_NOUNS = frozenset(
    """order orders purchase purchases product products refund refunds payment payments
    method methods card cards giftcard balance invoice invoices subscription subscriptions
    account accounts membership memberships ticket tickets booking bookings reservation
    reservations flight flights seat seats cabin passenger passengers bag bags baggage luggage
    insurance coupon coupons voucher vouchers discount discounts fee fees fare fares shipment
    shipments shipping delivery deliveries warranty warranties claim claims loan loans deposit
    deposits transaction transactions price prices trial license licence licenses licences
    upgrade upgrades cancellation cancellations compensation certificate certificates
    rewards reimbursement reimbursements rental rentals room rooms appointment appointments
    policy policies trip trips plan plans bill bills contract contracts premium premiums
    deductible deductibles""".split()
)
"""Business objects whose rules are policy facts ("An order can only be cancelled if ...")."""
_AMBIGUOUS_NOUNS = frozenset("item items return returns exchange exchanges points total".split())
"""Business objects that also name parts of an output format: they need a policy verb."""
_PEOPLE_NOUNS = frozenset(
    """user users customer customers passenger passengers member members guest guests buyer
    buyers traveler travelers traveller travellers client clients patient patients student
    students visitor visitors caller callers shopper shoppers subscriber subscribers tenant
    tenants""".split()
)
"""The user or customer in the third person: their rights and limits are policy."""
_CUSTOMER_NOUNS = _PEOPLE_NOUNS - {"user", "users"}
"""People who are customers of a business, not just the other side of the chat."""
_ATTRIBUTE_NOUNS = frozenset(
    """status balance total price amount fee date method address number type types class code
    codes""".split()
)
_POLICY_VERB = (
    r"(?:cancell?ed|modified|changed|exchanged|returned|refunded|upgraded|downgraded|"
    r"transferred|booked|rebooked|reserved|charged|billed|paid|shipped|redeemed|combined|"
    r"extended|renewed|reimbursed|waived|credited|claimed|purchased|used|applied|added|removed|"
    r"issued|served|offered|accepted|included|delivered|processed|honou?red|provided|"
    r"suspended|terminated|deactivated|reactivated|activated|granted|approved|determined)"
)
_POLICY_ADJ = (
    r"(?:(?:non-?)?refundable|transferable|eligible|entitled|allowed|permitted|free|covered|"
    r"exchangeable|returnable|cancell?able|welcome|available)"
)
_POLICY_BASE_VERB = re.compile(
    r"\b(?:cancel|modify|change|exchange|return|refund|upgrade|downgrade|transfer|book|rebook|"
    r"reserve|add|remove|redeem|combine|extend|renew|claim|purchase|buy|bring|carry|pay|"
    r"compensate|reimburse|waive|issue|offer|get|receive|earn|use|provide|lift|suspend|"
    r"resume|enable|disable|activate|reactivate|refuel|refill|grant|approve|switch)\b",
    re.IGNORECASE,
)
"""What a customer or the agent may or may not do with a business object."""
_POLICY_STRONG = re.compile(
    rf"\b(?:(?:can|may) only be|(?:cannot|can't|can not|may not|must not|will not|won't) be|"
    rf"can be|will be|must be|are|is) (?:only |not |fully |partially |also |always )?"
    rf"(?:{_POLICY_VERB}|{_POLICY_ADJ})\b|\b(?:is|are|must be) either\b",
    re.IGNORECASE,
)
_POLICY_MODAL = re.compile(
    r"\b(?:can only|may only|cannot|can't|can not|may not|must(?: not)?|mustn't|"
    r"is not allowed to|are not allowed to|is required to|are required to)\b",
    re.IGNORECASE,
)
_POLICY_PERMISSION = re.compile(
    r"\b(?:can|may|will|needs? to|has to|have to|(?:is|are) allowed to|get|gets|receive|"
    r"receives|earn|earns|pay|pays|enjoy|enjoys|requires?|expires?)\b",
    re.IGNORECASE,
)
"""A permission or entitlement: a policy only with a policy verb and a business object."""
_RESTRICTIVE = re.compile(r"only|cannot|can't|can not|may not|not allowed", re.IGNORECASE)
_LEAD_CLAUSE = re.compile(
    r"(?:if|when|whenever|once|after|before|for|unless|upon|during|in case)\b[^,\n]{0,150},\s*",
    re.IGNORECASE,
)
_NOT_POLICY_SUBJECT = frozenset(
    """you your yourself we i agent agents assistant assistants bot chatbot ai model this that
    tool tools function functions action actions""".split()
)
_OFFERED = re.compile(
    r"served|offered|accepted|shipped|delivered|refundable|eligible|covered|available|"
    r"suspended|terminated|deactivated|reactivated|activated|granted|waived|charged|refunded",
    re.IGNORECASE,
)
_PRONOUNS = frozenset("he she it they them one someone everyone his her their".split())
_CONSEQUENCE = re.compile(
    r"((?:[\w'-]+\s+){1,4}?)(?:will|won't|would)\s+(?:not\s+)?(?:be\s+|have\s+|need\s+|"
    r"have to\s+)?\w+",
    re.IGNORECASE,
)
"""The main clause after a condition: "<subject> will (not) ..." (what happens, not a rule)."""
_NOT_AN_ORDER = re.compile(
    r"\bin (?:any|which|what|the same|this|that|reverse|alphabetical|chronological|logical|"
    r"random|the right|the correct|the following) order\b|\bin order to\b|"
    r"\binto account\b|\bon account of\b"
)
"""Phrases where "order" is a sequence and "account" a consideration, not business objects."""
_VALIDATION = re.compile(
    r"\s+(?:already\s+)?(?:be\s+)?(?:valid|verified|validated|authori[sz]ed|confirmed|checked|"
    r"present|in the|in user|on file)\b",
    re.IGNORECASE,
)
_ATTENDANCE = re.compile(r"available|welcome", re.IGNORECASE)
"""Said of a person, these describe the conversation ("The user is available"), not a policy."""
_AGENT_SUBJECT = frozenset("you agent agents assistant".split())
_TOOL_WORDS = frozenset("tool tools function functions api".split())
_ENTITLEMENTS = frozenset("get gets receive receives earn earns pay pays enjoy enjoys".split())
"""Verbs that grant something by themselves ("Premium members get free delivery")."""
_SUBORDINATE = frozenset("if when unless whenever once because while which".split())
_CONDITIONAL_DENIAL = re.compile(
    r"(?:do not|don't|never)\s+(?:compensate|refund|reimburse|waive|cancel|exchange|upgrade|"
    r"offer (?:an? )?(?:refund|compensation|discount|voucher|upgrade|certificate)s?)\b"
    r"[^.\n]{0,40}?\b(?:if|unless|when)\b([^.\n]{0,160})",
    re.IGNORECASE,
)
"""A denial under a business condition ("Do not compensate if the user is a regular member")."""


def _policy_rule(sentence: str) -> str:
    """A business rule: a constraint whose subject is a business object or the customer.

    "An order can only be cancelled if its status is 'pending'", "The refund must go to the
    original payment method", "Basic economy tickets are non-refundable", "The user can only
    choose one payment method", "There cannot be any change of product types", "Premium members
    get free delivery", "The agent can only cancel a trip that is not flown". A rule for you, the
    agent or a tool that is not about what may be done with a business object ("You can only
    help one user", "This action can only be called once") is procedure, not policy. Returns the
    constraint as matched, or "".
    """
    opening = _openings(sentence)[-1]
    words = {
        w.removesuffix("'s") for w in _SLOT_WORD.findall(_NOT_AN_ORDER.sub(" ", sentence.lower()))
    }
    statement = _is_statement(sentence)
    denial = _CONDITIONAL_DENIAL.match(opening)
    if denial:
        condition = set(_SLOT_WORD.findall(denial.group(1).lower()))
        if condition & (_BUSINESS_NOUNS | _CUSTOMER_NOUNS):
            return denial.group().split(" if ")[0].split(" unless ")[0]
    lead = _LEAD_CLAUSE.match(opening)
    main = opening[lead.end() :] if lead else opening
    lead_text = lead.group().lower() if lead else ""
    if lead and (consequence := _consequence(main, words)):
        return consequence
    window = main[:90]
    strong = _POLICY_STRONG.search(window)
    modal = _POLICY_MODAL.search(window)
    permission = _POLICY_PERMISSION.search(window)
    found = min((m for m in (strong, modal) if m), key=lambda m: m.start(), default=None)
    weak = False
    if permission and (found is None or permission.start() < found.start()):
        found, weak = permission, True
    if found is None:
        return ""
    if found is modal and _VALIDATION.match(main, found.end()):
        return ""  # "All payment methods must be valid": a check for the agent, not a policy
    subject = _SLOT_WORD.findall(main[: found.start()].lower())
    if not subject or len(subject) > 6 or _SUBORDINATE & set(subject):  # noqa: PLR2004
        return ""  # a subject is a short noun phrase, not a clause ("4a) If seats are ...")
    after = main[found.end() : found.end() + 60]
    # "can change cabin", "can add but not remove checked bags", "can take actions to modify"
    acts = bool(_POLICY_BASE_VERB.search(after)) or found.group().lower() in _ENTITLEMENTS
    if subject[-1] in _AGENT_SUBJECT or subject[0] in _AGENT_SUBJECT:
        return _agent_limit(subject, found, main)
    if subject[0] in _NOT_POLICY_SUBJECT or subject[-1] in _NOT_POLICY_SUBJECT:
        return ""
    # The head noun is the first known noun of the subject ("items bought on sale": items).
    head = next(
        (
            w.removesuffix("'s")
            for w in subject
            if w.removesuffix("'s") in _BUSINESS_NOUNS | _PEOPLE_NOUNS | _AMBIGUOUS_NOUNS
        ),
        subject[-1].removesuffix("'s"),
    )
    is_strong = found is strong
    if weak and found.group().lower() in {"require", "requires", "expire", "expires"}:
        # "Refunds above this amount require supervisor approval", "Points expire after a year"
        ok = head in _BUSINESS_NOUNS or head in _AMBIGUOUS_NOUNS
    elif weak:
        ok = (
            acts
            and bool(words & _BUSINESS_NOUNS)
            and (head in _BUSINESS_NOUNS or head in _PEOPLE_NOUNS or head in _AMBIGUOUS_NOUNS)
        )
    elif head in _BUSINESS_NOUNS:
        ok = True
    elif head in _PEOPLE_NOUNS:
        # "The user can only choose one payment method", not "Users cannot see your thoughts".
        ok = (is_strong and not _ATTENDANCE.search(found.group())) or bool(words & _BUSINESS_NOUNS)
    elif head in _AMBIGUOUS_NOUNS:
        ok = is_strong
    elif head in _ATTRIBUTE_NOUNS:
        ok = any(w in _BUSINESS_NOUNS or w in _AMBIGUOUS_NOUNS for w in subject[:-1])
    elif head in {"it", "they"}:
        ok = any(w in _BUSINESS_NOUNS for w in _SLOT_WORD.findall(lead_text))
    elif subject == ["there"]:
        ok = bool(words & _BUSINESS_NOUNS) and found is modal
    else:
        # "Breakfast is served from 7", "Pets are welcome for a fee": what is offered. Without
        # an offer verb the sentence must name a business object ("Emojis are welcome" is form).
        ok = (
            is_strong
            and statement
            and not set(subject) & _META_NOUNS
            and (
                bool(_OFFERED.search(found.group()))
                or bool(words & (_BUSINESS_NOUNS | _CUSTOMER_NOUNS) - {"order", "orders"})
            )
        )
    return f"{' '.join(subject)} {found.group()}" if ok else ""


def _consequence(main: str, words: set[str]) -> str:
    """What follows from a business event, after its condition: "the payment will be declined".

    "When a line is suspended, the user will not have service" says what the product does. It
    needs a business object in the sentence, a subject that is not the agent, a tool, a pronoun
    or a status ("the order status will be set to ..." is bookkeeping).
    """
    consequence = _CONSEQUENCE.match(main)
    if consequence is None or not words & (_BUSINESS_NOUNS | _CUSTOMER_NOUNS):
        return ""
    subject = set(consequence.group(1).lower().split())
    excluded = _NOT_POLICY_SUBJECT | (_META_NOUNS - {"user", "users"}) | _PRONOUNS | {"status"}
    return "" if subject & excluded else consequence.group().strip()


def _agent_limit(subject: Sequence[str], found: re.Match[str], main: str) -> str:
    """The agent's own limit over a business object, or "" for procedure.

    "The agent can only cancel a trip that is not flown", "You are not allowed to lift the
    suspension if ..." limit what may be done with a business object; a plain "you can help
    users cancel orders" describes the job, and "you can cancel it with the cancel tool" is how.
    """
    after = main[found.end() : found.end() + 60]
    verb = _POLICY_BASE_VERB.match(after.lstrip().removeprefix("to "))
    rest = set(_SLOT_WORD.findall(main[found.end() :].lower()))
    limiting = bool(_RESTRICTIVE.search(found.group())) or "allowed" in found.group().lower()
    if verb is None or not limiting or not rest & _BUSINESS_NOUNS or rest & _TOOL_WORDS:
        return ""
    return f"{' '.join(subject)} {found.group()} {verb.group()}"


_PLACE_NOUNS = frozenset(
    """hotel clinic store shop restaurant cafe café bakery bar office company business firm bank
    gym spa salon practice pharmacy hospital school museum library airline branch venue resort
    property apartment building campus dealership agency studio center centre kitchen menu
    brand shop's store's showroom warehouse""".split()
)
"""Subjects that name the business itself ("The clinic does not accept walk-ins")."""
_META_NOUNS = frozenset(
    """goal goals mission task tasks aim job purpose role objective objectives priority focus
    approach answer answers response responses conversation conversations chat discussion
    context instructions instruction rules rule guidelines example examples output input
    prompt format style tone message messages reply replies api tool tools function functions
    agent agents assistant documents document information data results result text field fields
    query queries question questions user users""".split()
)
"""What ``our ...`` means when it is about the conversation, not the business."""
_BUSINESS_VOICE = re.compile(
    r"(?:we|we're|our\s+([a-z][\w'-]*(?:\s+[a-z][\w'-]*)??)|the\s+([a-z][\w'-]*))\s+"
    r"(?:(?:do not|don't|does not|doesn't|never|only|also|currently|now|always|still|proudly)"
    r"\s+)?(?:offers?|accepts?|ships?|delivers?|sells?|serves?|charges?|opens?|closes?|"
    r"carr(?:y|ies)|stocks?|supports?|covers?|operates?|refunds?|exchanges?|has|have|"
    r"includes?|features?|allows?|requires?|specializes?|specialises?|"
    r"(?:are|is)\s+(?:not\s+)?(?:open|closed|located|based|available)|"
    r"(?<=[a-z] )(?:are|is|was|were)(?=\s+(?:not\s+)?[a-z]))\b",
    re.IGNORECASE,
)
"""The business speaking of itself: "We ship to", "Our menu includes", "The hotel has"."""


_WE_AUTHOR = frozenset("has have is are was were".split())


def _business_statement(sentence: str) -> str:
    """A statement of what the business offers, accepts or is ("We do not offer cash refunds").

    ``we`` and ``our`` count unless ``our`` names the conversation ("Our goal is ..."); ``the``
    counts before a word naming the business itself (hotel, clinic, store, menu...). A
    ``we`` followed by "provide you" or a rule opening is left alone.
    """
    m = next(filter(None, map(_BUSINESS_VOICE.match, _openings(sentence))), None)
    if m is None:
        return ""
    our, the = m.group(1), m.group(2)
    if our is None and the is None and m.group().lower().split()[-1] in _WE_AUTHOR:
        return ""  # "We have provided an answer", "We are going to": the prompt's author
    if our is not None and any(w in _META_NOUNS for w in our.lower().split()):
        return ""
    if the is not None and the.lower() not in _PLACE_NOUNS:
        return ""
    return m.group()


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFinding:
    """One sentence of the instructions, classified as a volatile fact or as form.

    Example:
        ```python
        f = audit_instructions("Support is open Monday to Friday, 9am-5pm CET.").findings[0]
        f.kind, f.signals  # ('fact', ('time',))
        f.suggested_item.layer  # Layer.KNOWLEDGE
        ```
    """

    text: str
    """The sentence or span exactly as it appears in the input."""
    kind: AuditKind
    """``"fact"`` (volatile: move it to the KNOWLEDGE layer) or ``"form"`` (keep it)."""
    reason: str
    """Why, in words (the signals that fired and what they matched)."""
    suggested_item: ContextItem | None
    """For facts: a KNOWLEDGE item carrying the sentence, with a ``fact_key``; None for form."""
    start: int = 0
    """Character offset of ``text`` in its source (the input text or the item's content)."""
    end: int = 0
    """Character offset just past ``text``: ``source[start:end] == text``."""
    signals: tuple[str, ...] = ()
    """Names of the fact signals that fired (``price``, ``date``, ``version``, ``url``...)."""
    tokens: int = 0
    """Tokens of ``text`` by the audit's counter."""
    item_id: str | None = None
    """The id of the instruction item the sentence comes from (None for plain text input)."""
    source: str = "instructions"
    """Where the sentence comes from (the item's source, or ``"instructions"`` for text)."""
    refined: bool = False
    """True when a chat model changed or confirmed the heuristic verdict."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the suggested item as its main fields)."""
        item = self.suggested_item
        return {
            "text": self.text,
            "kind": self.kind,
            "reason": self.reason,
            "start": self.start,
            "end": self.end,
            "signals": list(self.signals),
            "tokens": self.tokens,
            "item_id": self.item_id,
            "source": self.source,
            "refined": self.refined,
            "suggested_item": None
            if item is None
            else {
                "id": item.id,
                "content": item.content,
                "layer": item.layer.value,
                "source": item.source,
                "fact_key": item.fact_key,
                "trust": item.trust.name,
            },
        }


@dataclass(frozen=True)
class InstructionAudit:
    """The audit of an instruction layer: one finding per sentence, in input order.

    Example:
        ```python
        audit = audit_instructions("Be concise. Our API limit is 100 requests per minute.")
        audit.fact_tokens, audit.total_tokens  # (10, 13)
        print(audit)  # a table of every sentence with its verdict
        ```
    """

    findings: list[AuditFinding]
    """One finding per sentence, in input order."""
    total_tokens: int = 0
    """Tokens of the whole audited instructions (by ``counter``)."""
    counter: str = ""
    """Which counter measured the tokens."""
    skipped: list[str] = field(default_factory=list)
    """Ids of input items that were not audited because they are not in the INSTRUCTIONS layer."""

    @property
    def facts(self) -> list[AuditFinding]:
        """The sentences classified as facts."""
        return [f for f in self.findings if f.kind == "fact"]

    @property
    def form(self) -> list[AuditFinding]:
        """The sentences classified as form."""
        return [f for f in self.findings if f.kind == "form"]

    @property
    def fact_tokens(self) -> int:
        """Tokens of the fact sentences: what you pay for them on every call."""
        return sum(f.tokens for f in self.facts)

    @property
    def fact_share(self) -> float:
        """Share of the instructions' tokens spent on fact sentences (0 when empty)."""
        return self.fact_tokens / self.total_tokens if self.total_tokens else 0.0

    def suggested_items(self) -> list[ContextItem]:
        """The KNOWLEDGE items suggested for the fact sentences (unique ids, input order)."""
        seen: set[str] = set()
        out: list[ContextItem] = []
        for f in self.facts:
            if f.suggested_item is not None and f.suggested_item.id not in seen:
                seen.add(f.suggested_item.id)
                out.append(f.suggested_item)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole audit."""
        return {
            "total_tokens": self.total_tokens,
            "fact_tokens": self.fact_tokens,
            "fact_share": self.fact_share,
            "counter": self.counter,
            "counts": {"fact": len(self.facts), "form": len(self.form)},
            "findings": [f.to_dict() for f in self.findings],
            "skipped": list(self.skipped),
        }

    def __str__(self) -> str:
        """A readable table: summary, then every sentence with its verdict and reason."""
        lines = [
            (
                f"Instruction audit: {len(self.facts)} fact and {len(self.form)} form sentences; "
                f"facts cost {self.fact_tokens} of {self.total_tokens} tokens "
                f"({self.fact_share:.0%}) on every call (counter={self.counter})"
            ),
        ]
        if self.facts:
            lines.append(
                "Move the fact sentences to the KNOWLEDGE layer (retrieve them per call, keyed by "
                "fact_key) to keep the cached prefix stable."
            )
        lines += ["", f"{'kind':<6}{'tokens':>7}  {'chars':<11}sentence / reason"]
        for f in self.findings:
            text = " ".join(f.text.split())
            if len(text) > 90:  # noqa: PLR2004 - display width
                text = text[:89] + "…"
            lines.append(f"{f.kind:<6}{f.tokens:>7}  {f'{f.start}-{f.end}':<11}{text}")
            if f.kind == "fact":
                key = f.suggested_item.fact_key if f.suggested_item else None
                lines.append(f"{'':<24}-> {f.reason}; fact_key={key}")
        for item_id in self.skipped:
            lines.append(f"skipped (not an instruction): {item_id}")
        return "\n".join(lines)


_KEY_STOP = ENGLISH_STOP_WORDS | frozenset(
    """s per us one also may must will can get new like via plus within less more total""".split()
)
_KEY_WORD = re.compile(r"[^\W\d_]+")


def fact_key_for(sentence: str, signals: Sequence[str]) -> str:
    """A stable ``fact_key`` for a fact sentence: its main signal and first content words.

    Numbers are left out, so the same sentence with a new price, date or version keeps its key
    (a later version of the fact supersedes the old one).

    Example:
        ```python
        fact_key_for("The Pro plan costs $49/month.", ["price"])  # 'price:pro-plan-costs-month'
        fact_key_for("The Pro plan costs $59/month.", ["price"])  # the same key
        ```
    """
    masked = _PLACEHOLDER.sub(" ", sentence)
    words = [w for w in _KEY_WORD.findall(masked.lower()) if w not in _KEY_STOP and len(w) > 1]
    slug = "-".join(words[:4]) or stable_hash(sentence, length=8)
    prefix = signals[0] if signals else "fact"
    return f"{prefix}:{slug}"


def _classify(sentence: str) -> tuple[AuditKind, str, tuple[str, ...]]:
    signals = _fact_signals(sentence)
    if signals:
        names = tuple(name for name, _ in signals)
        detail = ", ".join(f"{_SIGNAL_LABEL[name]} ({matched!r})" for name, matched in signals)
        return "fact", f"volatile fact: {detail}", names
    if _is_rule_opening(sentence) or _FORMAT_WORD.search(sentence):
        return "form", "form: a rule about role, tone, format or behaviour", ()
    return "form", "form: no volatile detail (no number, date, price, version, URL or contact)", ()


_META_MENTION = re.compile(
    r"\b(?:agents?|assistant|api|tools?|functions?|rules?|instructions?|prompt)\b|"
    r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b",
    re.IGNORECASE,
)
"""A statement about the agent, its tools or the rules is procedure, not part of the facts."""


_FENCED_FORM: tuple[AuditKind, str, tuple[str, ...]] = (
    "form",
    "form: a fenced code block (code, schema or example)",
    (),
)


def _propagate(
    text: str,
    spans: Sequence[tuple[int, int, int]],
    verdicts: list[tuple[AuditKind, str, tuple[str, ...]]],
    frozen: set[int],
) -> list[tuple[AuditKind, str, tuple[str, ...]]]:
    """Mark statements next to a fact in the same line or list item as facts, transitively.

    Pasted policy text runs in passages ("No additional stimulus payments. Unlike 2020 and 2021,
    there were no new payments for 2022."): a plain statement that sits between facts is part of
    the fact even without a number of its own. Rules, persona lines, headings, statements about
    the agent, its tools or the rules, and the spans in ``frozen`` (examples) are never pulled,
    and a fact in an example pulls nothing. One pass forwards and one backwards reach the fixed
    point, so this is linear.
    """
    out = list(verdicts)
    statement = [
        i not in frozen
        and _is_statement(masked := _mask(text[start:end]))
        and not _META_MENTION.search(masked)
        for i, (start, end, _) in enumerate(spans)
    ]
    order = list(range(len(spans)))
    for indices in (order, order[::-1]):
        prev: int | None = None
        for i in indices:
            if (
                prev is not None
                and out[i][0] == "form"
                and statement[i]
                and spans[prev][2] == spans[i][2]
                and out[prev][0] == "fact"
                and prev not in frozen
            ):
                out[i] = ("fact", "volatile fact: a statement in a passage of facts", ())
            prev = i
    return out


_EXAMPLE_LABEL = re.compile(
    r"(?:(?:input|output|user|assistant|human|ai|system|example|sample|customer|client|caller|"
    r"agent|bot|response|query|conversation|dialogue|transcript|observation|thought|action)"
    r"(?: ?\d{1,3})?|(?:example|sample)s?(?: [\w-]+){1,2}|(?:correct|incorrect|good|bad|wrong|"
    r"right|expected|desired)\**\s+(?:response|answer|output|reply))\s*:|(?:user|bot)\s+\"",
    re.IGNORECASE,
)
"""A speaker or I/O label opening a line of an example ("User:", "Output:", "Example 2:")."""
_EXAMPLE_OPENER = re.compile(
    r"(?:for example|for instance|example|examples|sample)\b|e\.g\.", re.IGNORECASE
)
_EXAMPLE_INTRO = re.compile(
    r"\b(?:here (?:is|are) (?:an? |some |a few )?(?:[\w-]+ ){0,3}examples?|few[- ]shot examples?|"
    r"examples? (?:conversations?|dialogues?|interactions?))\b|^\W*examples?\W*$",
    re.IGNORECASE,
)
_BOLD_LINE = re.compile(r"\*\*[^*\n]{1,80}\*\*:?\s*$")
_MD_HEADING = re.compile(r"[ \t]*(#{1,6})\s")
_CAPS_HEADING = re.compile(r"[ \t]*[A-Z][A-Z0-9&/' -]{2,60}[ \t]*$")
"""A short line in capitals ("COMPANY OVERVIEW") is a heading."""
_EXAMPLE_WORD = re.compile(r"\b(?:examples?|samples?|demonstrations?|few[- ]shot)\b", re.IGNORECASE)
_CITATION_LINE = re.compile(r"\[\d{1,3}\]\s*\S*(?:https?://|www\.)")
_HEADING_LINE = re.compile(r"[ \t]*(?:#{1,6}\s|\*\*[^*\n]{1,80}\*\*:?\s*$|={3,})")
_FACT_HEADING = re.compile(
    r"\b(?:products?|services?|amenities|menus?|pric(?:es|ing)|plans?|hours|opening times|"
    r"locations?|stores?|branches|store information|contact(?: (?:info|information|details))?|"
    r"fees|rates|tariffs?|catalog(?:ue)?|inventory|offers?|offerings|packages|promotions?|"
    r"payment (?:methods|options)|accepted|overview|about us|about the (?:company|clinic|store|"
    r"business|hotel|restaurant|shop)|(?:company|clinic|store|business) (?:profile|information)|"
    r"key facts|at a glance|who we are|"
    r"facilities)\b",
    re.IGNORECASE,
)
"""A heading whose list items are facts ("Products & Services:", "## Opening hours")."""
_SCHEMA_ITEM = re.compile(
    r"\b(?:timestamps?|database|schema|fields?|columns?|records?|tracked|logged)\b",
    re.IGNORECASE,
)
"""An item about stored data ("Requests are tracked with timestamps") is schema, not a fact."""
_PROFILE_LINE = re.compile(
    r"(?:first name|last name|full name|name|age|gender|sex|pronouns|occupation|job(?: title)?|"
    r"profession|employer|phone(?: number)?|mobile|e-?mail|address|home address|city|"
    r"location|country|nationality|birthday|date of birth|dob|education|school|university|"
    r"marital status|interests|hobbies|account(?: number| id| type)?|member since|"
    r"membership(?: level| tier)?)\s*:\s*"
    # An empty or unknown value ("Age: ?", "Name: N/A", "City: [city]") holds no fact yet.
    r"(?![\[<(]|$|(?:\?+|n/?a|unknown|none|tbd|-+)\s*$|"
    # A parameter's type ("name: str - the task name") documents a schema.
    r"(?:str|string|int|integer|float|number|bool|boolean|list|dict|array|object)\b)\S",
    re.IGNORECASE,
)
"""A "Key: value" line of a user or customer profile ("Occupation: PhD student")."""


def _lines(text: str, spans: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """For each span: (start, end) of the line it starts on; linear in the text."""
    out: list[tuple[int, int]] = []
    line_start, line_end, pos = 0, -1, 0
    for start, _, _ in spans:
        newline = text.rfind("\n", pos, start)
        if newline >= 0 or line_end < 0:
            line_start = newline + 1 if newline >= 0 else line_start
            found = text.find("\n", start)
            line_end = len(text) if found < 0 else found
        pos = start
        out.append((line_start, line_end))
    return out


def _context(
    text: str,
    spans: Sequence[tuple[int, int, int]],
    verdicts: list[tuple[AuditKind, str, tuple[str, ...]]],
) -> tuple[list[tuple[AuditKind, str, tuple[str, ...]]], set[int]]:
    """Verdicts that depend on the lines around a sentence; returns them and the example spans.

    - Example dialogue is form: lines opened by a speaker or I/O label ("User:", "Output:"),
      sentences opened by "For example"/"e.g.", and the block after "Here are some examples" (up
      to a heading or an unlabelled line after a blank line), citation lines included.
    - Profile lines ("Occupation: PhD student") are facts.
    - List items under a heading naming products, services, menu, prices, hours or locations
      are facts unless they are rules.
    """
    out = list(verdicts)
    examples: set[int] = set()
    lines = _lines(text, spans)
    in_block = False  # inside an example block
    block_line = -1  # the last line that belonged to it
    example_level = 0  # inside an "## Examples" section: its heading level (7: a bold heading)
    fact_heading = False
    lead_list = False
    heading_list_open = False
    prev_line = -1
    body = ""
    labelled = False
    is_heading = False
    is_bullet = False
    for i, (start, end, _) in enumerate(spans):
        line_start, line_end = lines[i]
        first_on_line = line_start != prev_line
        prev_line = line_start
        if first_on_line:
            line_text = text[line_start:line_end]
            lead = _BULLET.match(line_text)
            body = line_text[lead.end() if lead else 0 :]
            is_heading = bool(_HEADING_LINE.match(line_text) or _HEADING_LINE.match(body)) or (
                body.strip().strip("*_ ").endswith(":") and len(body.split()) <= 8  # noqa: PLR2004
            )
            is_bullet = lead is not None and line_text[: lead.end()].strip() != ""
            labelled = bool(_EXAMPLE_LABEL.match(body.lstrip("*_ ")))
            is_heading = is_heading or bool(_CAPS_HEADING.match(line_text))
            # An "## Examples" section runs to the next heading of its level or higher; a bold
            # "**Example 1: ...**" heading runs to the next markdown heading.
            md = _MD_HEADING.match(line_text)
            if md and example_level and len(md.group(1)) <= example_level:
                example_level = 0
            if not example_level and _EXAMPLE_WORD.search(body):
                if md:
                    example_level = len(md.group(1))
                elif _BOLD_LINE.match(body):
                    example_level = 7
        gap = first_on_line and i > 0 and "\n\n" in text[spans[i - 1][1] : start].replace(" ", "")
        sentence = text[start:end]
        # Example blocks.
        if first_on_line:
            cited = labelled or bool(_CITATION_LINE.match(body))
            if in_block:
                if is_heading and not cited:
                    in_block = False
                elif cited or not gap:
                    block_line = line_start
                else:
                    in_block = False
            if _EXAMPLE_INTRO.search(body) and not in_block:
                in_block = True
                block_line = -1  # the intro line itself is not part of the block
            elif labelled and not in_block:
                # A speaker line opens a turn: the lines right after it belong to the example.
                in_block = True
                block_line = line_start
        line_is_example = (in_block and block_line == line_start) or labelled or example_level > 0
        if line_is_example or _EXAMPLE_OPENER.match(_openings(sentence)[-1]):
            examples.add(i)
            out[i] = ("form", "form: part of an example", ())
            continue
        # Profile lines and fact headings.
        if first_on_line and _PROFILE_LINE.match(body) and sentence == body.strip():
            out[i] = ("fact", "volatile fact: a profile field (Key: value)", ("profile",))
            continue
        if first_on_line:
            # A heading is form unless it carries a hard fact ("## Prices from May 2025"). The
            # lines after a fact heading ("Products & Services:") or after a lead-in that states
            # a fact ("Full refunds are provided when:") are a list of facts.
            lead_in = body.strip().strip("*_ ")
            lead_fact = False
            if lead_in.endswith(":"):
                lead_in = lead_in.rstrip(":").strip("*_ ")
                # A lead-in is a sentence ("A line can be suspended when:"), not a label.
                if len(lead_in.split()) >= 4 and _is_statement(_mask(lead_in)):  # noqa: PLR2004
                    lead_verdict = _classify(lead_in + ".")
                    lead_fact = lead_verdict[0] == "fact" and bool(
                        set(lead_verdict[2]) - _SOFT_SIGNALS
                    )
            if is_heading or lead_fact:
                if lead_fact and sentence.strip() == body.strip():
                    out[i] = lead_verdict
                elif out[i][0] == "fact" and not set(out[i][2]) & _HARD_SIGNALS:
                    out[i] = ("form", "form: a heading", ())
                fact_heading = bool(_FACT_HEADING.search(body)) or lead_fact
                lead_list = lead_fact
                heading_list_open = fact_heading
                continue
            if not is_bullet and (gap or not heading_list_open):
                heading_list_open = False
        if (
            fact_heading
            and heading_list_open
            and out[i][0] == "form"
            # After a lead-in that states a fact ("A line can be suspended when:"), every item
            # completes it ("- The user has an overdue bill."); after a heading, statements do.
            and (_is_statement(_mask(sentence)) or (lead_list and is_bullet))
            and not _SCHEMA_ITEM.search(sentence)
        ):
            out[i] = ("fact", "volatile fact: listed under a heading of products or prices", ())
    return out, examples


def _inputs(
    text_or_items: str | BaseMessage | ContextItem | Iterable[str | BaseMessage | ContextItem],
) -> tuple[list[tuple[str, str | None, str]], list[str]]:
    """Normalise the input to ``(text, item_id, source)`` triples plus skipped item ids."""
    from langchain_core.messages import BaseMessage  # noqa: PLC0415 - keep import cheap

    if isinstance(text_or_items, (str, BaseMessage, ContextItem)):
        values: list[Any] = [text_or_items]
    else:
        try:
            values = list(text_or_items)
        except TypeError:
            msg = (
                "audit_instructions expects a str, a ContextItem, a message or an iterable of "
                f"them, got {type(text_or_items).__name__}"
            )
            raise TypeError(msg) from None
    out: list[tuple[str, str | None, str]] = []
    skipped: list[str] = []
    for value in values:
        if isinstance(value, str):
            out.append((value, None, "instructions"))
        elif isinstance(value, ContextItem):
            if value.layer is not Layer.INSTRUCTIONS:
                skipped.append(value.id)
                continue
            out.append((value.content, value.id, value.source or "instructions"))
        elif isinstance(value, BaseMessage):
            out.append((message_text(value), value.id, "instructions"))
        else:
            msg = (
                "audit_instructions expects str, ContextItem or BaseMessage elements, got "
                f"{type(value).__name__}: {value!r:.80}"
            )
            raise TypeError(msg)
    return out, skipped


def _heuristic_audit(
    text_or_items: str | BaseMessage | ContextItem | Iterable[str | BaseMessage | ContextItem],
    counter: TokenCounter | None,
) -> tuple[InstructionAudit, list[tuple[str, int]]]:
    """The heuristic audit, plus each audited text with its number of findings."""
    if counter is None:
        from langchain_ctxorch.tokens import get_token_counter  # noqa: PLC0415 - lazy

        counter = get_token_counter()
    inputs, skipped = _inputs(text_or_items)
    findings: list[AuditFinding] = []
    total = 0
    sources: list[tuple[str, int]] = []
    for text, item_id, source in inputs:
        total += counter.count(text)
        spans = _split_blocks(text)
        sources.append((text, len(spans)))
        verdicts = [
            _FENCED_FORM if _FENCE.match(text, start) else _classify(text[start:end])
            for start, end, _ in spans
        ]
        verdicts, examples = _context(text, spans, verdicts)
        verdicts = _propagate(text, spans, verdicts, examples)
        for (start, end, _), (kind, reason, signals) in zip(spans, verdicts, strict=True):
            sentence = text[start:end]
            findings.append(
                AuditFinding(
                    text=sentence,
                    kind=kind,
                    reason=reason,
                    suggested_item=_suggest(sentence, signals, item_id, source, start)
                    if kind == "fact"
                    else None,
                    start=start,
                    end=end,
                    signals=signals,
                    tokens=counter.count(sentence),
                    item_id=item_id,
                    source=source,
                )
            )
    audit = InstructionAudit(
        findings=findings,
        total_tokens=total,
        counter=type(counter).__name__,
        skipped=skipped,
    )
    return audit, sources


def _suggest(
    sentence: str, signals: Sequence[str], item_id: str | None, source: str, start: int
) -> ContextItem:
    origin = f"{source}#{item_id}" if item_id else source
    return ContextItem(
        content=sentence,
        layer=Layer.KNOWLEDGE,
        source=f"audit:{origin}",
        trust=Trust.VERIFIED,
        fact_key=fact_key_for(sentence, signals),
        metadata={"audit_signals": list(signals), "origin_item": item_id, "origin_start": start},
    )


def audit_instructions(
    text_or_items: str | BaseMessage | ContextItem | Iterable[str | BaseMessage | ContextItem],
    *,
    counter: TokenCounter | None = None,
    refine_with: BaseChatModel | None = None,
) -> InstructionAudit:
    """Classify every sentence of the instructions as a volatile fact or as form.

    Deterministic heuristics decide first: a sentence is a *fact* when it carries a price or
    currency, a percentage, a date or year, a time or weekday, a version or model number, a URL,
    an e-mail or phone number, a quantity or limit in business units, a product or plan name with
    a number, a location, a template slot filled per call ("Assume the current date is
    {current_date}"), or a business rule (a constraint whose subject is an order, booking, payment,
    product or the customer: "An order can only be cancelled if ..."; not a rule for you, the agent
    or a tool); or, in a statement (not a rule), time-bound wording ("as of", "currently", "this
    quarter", "changed"), who holds a role ("The CEO is ..."), or a claim about a named entity
    ("... offers ..."). A plain statement next to a fact in the same line or list item is part of
    that passage of facts; so are list items under a heading of products, services, menu, prices,
    hours or locations, and profile lines ("Occupation: ..."). Example dialogue (lines opened by
    "User:", "Input:"..., "For example ...", the block after "Here are some examples") is form and
    spreads nothing. Numbers that belong to a format rule ("in 3 bullet points", "a scale of 1 to
    10") do not count. Everything else is *form*.

    Args:
        text_or_items: the instructions: a string, a message, a `ContextItem`, or an iterable of
            them. Items outside ``Layer.INSTRUCTIONS`` are skipped and listed in
            ``InstructionAudit.skipped``.
        counter: the token counter for the per-sentence costs; ``get_token_counter()`` (exact
            ``cl100k_base``, offline) when None.
        refine_with: an optional chat model that judges every sentence again; never needed.
            It gets one call per audited text (per 100 sentences; the calls go through
            ``batch``, so they run concurrently): `REFINE_INSTRUCTIONS` as the system message,
            then the whole text with its sentences marked ``[1]``, ``[2]``, ... It answers one
            line per sentence, ``3: fact`` or ``3: form``; its verdict wins. A sentence it gives
            no readable verdict for keeps the heuristic one (``refined`` stays False).

    Returns:
        An `InstructionAudit` with one `AuditFinding` per sentence, in input order.

    Raises:
        TypeError: the input is not text, a message, an item or an iterable of them.

    Example:
        ```python
        audit = audit_instructions("Reply in JSON. As of May 2026, shipping is free over $50.")
        [(f.kind, f.signals) for f in audit.findings]
        # [('form', ()), ('fact', ('price', 'date', 'temporal'))]
        ```
    """
    audit, sources = _heuristic_audit(text_or_items, counter)
    if refine_with is None:
        return audit
    requests = _refine_requests(audit, sources)
    responses = refine_with.batch([r.messages for r in requests]) if requests else []
    return _apply_verdicts(audit, _verdicts(audit, requests, responses))


async def aaudit_instructions(
    text_or_items: str | BaseMessage | ContextItem | Iterable[str | BaseMessage | ContextItem],
    *,
    counter: TokenCounter | None = None,
    refine_with: BaseChatModel | None = None,
) -> InstructionAudit:
    """Async twin of `audit_instructions` (awaits the refining model, if any).

    Example:
        ```python
        audit = await aaudit_instructions("Our office is located at 5 Main St.")
        audit.facts[0].signals  # ('contact',)
        ```
    """
    audit, sources = _heuristic_audit(text_or_items, counter)
    if refine_with is None:
        return audit
    requests = _refine_requests(audit, sources)
    responses = await refine_with.abatch([r.messages for r in requests]) if requests else []
    return _apply_verdicts(audit, _verdicts(audit, requests, responses))


REFINE_INSTRUCTIONS = """\
You review the system prompt of an LLM application. Its sentences are marked [1], [2], ... Say \
for each marked sentence whether it is a volatile FACT or FORM.

A sentence is a FACT when it states something about the world that would have to be edited once \
the world changes: a date, year or deadline; a price, fee, amount or discount; a quantity or \
limit of a product, plan or service; the name or version of a product, plan or software; a URL, \
e-mail, phone number, address, opening hours or location; who holds a role; what a company, \
product or service is, offers or currently does; a rule of the business, its products or a tax \
year (who may do what with an order, booking, account or payment, refund and cancellation terms, \
eligibility); the model itself: its name or version, who built, trained or developed it, its \
knowledge cutoff ("You are Foo, a language model trained by Bar" is a fact); a deployment's \
settings and feature switches ("Browsing: disabled", "Web search: enabled"); or a slot filled \
with current data on each call or per deployment (the current date, the model name, the \
machine's operating system, shell or directories, the cart and its total, the fields of the \
user's or a persona's profile: name, age, location). It is a fact even when phrased as an \
instruction ("Tell users that the Pro plan now includes 5 seats").

A sentence is FORM when it shapes how the assistant works whatever the world is: role and \
persona, tone and style, output format and schema, procedure and steps, how to use tools, \
refusal and safety rules, reasoning rules, rubric text, and examples that illustrate the task or \
the output format (names, numbers and dates inside such an example are form). These are form \
too:
- naming the company or product the assistant works for ("You are the support agent of Acme"); \
what the company is, sells or where it is stays a fact;
- headings, labels and lead-ins that only introduce a section or list ("Refund policy:", "Our \
menu includes:"), even when the items under them are facts;
- descriptions of how the data, tools or records are structured ("Each order has a status and an \
id"), and general statements of what the assistant can or cannot do ("You cannot browse the \
web");
- slots for the request, retrieved documents, context or conversation ({question}, {context}, \
{history}), and profile fields that are empty or unknown;
- steps the agent follows (ask, confirm, verify, transfer, collect details), even about orders \
or bookings, and targets or thresholds for the agent's own work; the business's own terms (what \
is refundable, fees, deadlines, eligibility) stay facts;
- stable domain knowledge and method that do not change with the business (training zones, \
formulas, citation styles, grammar); rules that an authority publishes and updates (tax rules, \
medication dose limits) stay facts.

Answer with one line per marked sentence, in order, exactly `<number>: fact` or `<number>: \
form`, and nothing else."""
"""The system message `audit_instructions(..., refine_with=model)` sends to the model."""

_REFINE_CHUNK = 100
"""Most sentences asked about in one call; longer instructions take several calls."""

_VERDICT_LINE = re.compile(r"^[^\w\n]*(\d+)[^\w\n]+(fact|form)\b", re.IGNORECASE | re.MULTILINE)
"""One verdict line of the refining model: ``3: fact``, ``**3** - Form``, ``[3] fact``."""


@dataclass(frozen=True)
class _RefineRequest:
    first: int
    """Index in ``audit.findings`` of the sentence marked ``[offset + 1]``."""
    offset: int
    """Marker number of the first asked-about sentence, minus one."""
    count: int
    """How many sentences this call asks about."""
    messages: list[BaseMessage]


def _refine_requests(
    audit: InstructionAudit, sources: Sequence[tuple[str, int]]
) -> list[_RefineRequest]:
    """One call per audited text (per ``_REFINE_CHUNK`` sentences): the whole text, marked."""
    from langchain_core.messages import HumanMessage, SystemMessage  # noqa: PLC0415 - lazy

    requests: list[_RefineRequest] = []
    first = 0
    for text, n in sources:
        group = audit.findings[first : first + n]
        parts: list[str] = []
        last = 0
        for number, f in enumerate(group, 1):
            parts += [text[last : f.start], f"[{number}] "]
            last = f.start
        marked = "".join([*parts, text[last:]])
        for offset in range(0, n, _REFINE_CHUNK):
            count = min(_REFINE_CHUNK, n - offset)
            ask = (
                f"Answer for sentences {offset + 1} to {offset + count}."
                if n > _REFINE_CHUNK
                else "Answer for every marked sentence."
            )
            human = (
                f"The system prompt, its sentences marked [1] to [{n}]:\n\n<prompt>\n{marked}\n"
                f"</prompt>\n\n{ask}"
            )
            messages: list[BaseMessage] = [
                SystemMessage(REFINE_INSTRUCTIONS),
                HumanMessage(human),
            ]
            requests.append(_RefineRequest(first + offset, offset, count, messages))
        first += n
    return requests


def _verdicts(
    audit: InstructionAudit, requests: Sequence[_RefineRequest], responses: Sequence[Any]
) -> list[AuditKind | None]:
    """The model's verdict per finding (None where it gave none we can read)."""
    verdicts: list[AuditKind | None] = [None] * len(audit.findings)
    for request, response in zip(requests, responses, strict=True):
        text = message_text(response) if hasattr(response, "content") else str(response)
        word = text.strip().strip("*'\"`.").lower()
        if request.count == 1 and word in ("fact", "form"):  # a bare one-word answer
            verdicts[request.first] = "fact" if word == "fact" else "form"
            continue
        for match in _VERDICT_LINE.finditer(text):
            number = int(match.group(1)) - request.offset
            if 1 <= number <= request.count:
                kind = match.group(2).lower()
                verdicts[request.first + number - 1] = "fact" if kind == "fact" else "form"
    return verdicts


def _apply_verdicts(
    audit: InstructionAudit, verdicts: Sequence[AuditKind | None]
) -> InstructionAudit:
    findings: list[AuditFinding] = []
    for f, verdict in zip(audit.findings, verdicts, strict=True):
        if verdict is None:
            findings.append(f)
        elif verdict == f.kind:
            findings.append(replace(f, refined=True))
        elif verdict == "fact":
            item = _suggest(f.text, f.signals, f.item_id, f.source, f.start)
            findings.append(
                replace(
                    f,
                    kind="fact",
                    reason="volatile fact (per the refining model)",
                    suggested_item=item,
                    refined=True,
                )
            )
        else:
            findings.append(
                replace(
                    f,
                    kind="form",
                    reason=f"form (per the refining model; heuristic said: {f.reason})",
                    suggested_item=None,
                    refined=True,
                )
            )
    return replace(audit, findings=findings)
