"""Judge rubrics: the published ones by name, and custom ones built from a level → description map.

A preset reads two templates from the judge's config, `instruction` (what was asked) and
`response` (what is judged), so one rubric serves any recipe's field names.
"""

from __future__ import annotations

__all__ = ["RUBRICS", "rubric_prompt", "criteria_prompt"]

# Li et al. 2023, "Self-Alignment with Instruction Backtranslation", the self-curation prompt.
BACKTRANSLATION = """\
Below is an instruction from an user and a candidate answer. Evaluate whether or not the answer is a good example of how AI Assistant should respond to the user's instruction. Please assign a score using the following 5-point scale:
1: It means the answer is incomplete, vague, off-topic, controversial, or not exactly what the user asked for. For example, some content seems missing, numbered list does not start from the beginning, the opening sentence repeats user's question. Or the response is from another person's perspective with their personal experience (e.g. taken from blog posts), or looks like an answer from a forum. Or it contains promotional text, navigation text, or other irrelevant information.
2: It means the answer addresses most of the asks from the user. It does not directly address the user's question. For example, it only provides a high-level methodology instead of the exact solution to user's question.
3: It means the answer is helpful but not written by an AI Assistant. It addresses all the basic asks from the user. It is complete and self contained with the drawback that the response is not written from an AI assistant's perspective, but from other people's perspective. The content looks like an excerpt from a blog post, web page, or web search results. For example, it contains personal experience or opinion, mentions comments section, or share on social media, etc.
4: It means the answer is written from an AI assistant's perspective with a clear focus of addressing the instruction. It provide a complete, clear, and comprehensive response to user's question or instruction without missing or irrelevant information. It is well organized, self-contained, and written in a helpful tone. It has minor room for improvement, e.g. more concise and focused.
5: It means it is a perfect answer from an AI Assistant. It has a clear focus on being a helpful AI Assistant, where the response looks like intentionally written to address the user's question or instruction without any irrelevant sentences. The answer provides high quality content, demonstrating expert knowledge in the area, is very well written, logical, easy-to-follow, engaging and insightful.
Please first provide a brief reasoning you used to derive the rating score, and then write "Score: <rating>" in the last line.

Instruction: {{ __instruction }}
Answer: {{ __response }}"""

# A general 1-5 quality rubric for texts written to a brief (stories, textbook sections).
QUALITY = """\
Below is a writing task and a text written for it. Rate how well the text fulfils the task on this 5-point scale:
1: Off-task, incoherent, or mostly repetition; or not finished.
2: Partly on task, but it ignores important parts of the brief, or is confusing or repetitive.
3: On task and understandable, with clear problems: parts of the brief missing, flat or clumsy writing, errors.
4: Fulfils the brief with clear, correct, well-organised writing; minor room for improvement.
5: Fulfils every part of the brief; clear, engaging, correct, and fitting for its audience.
Please first give a brief reasoning, and then write "Score: <rating>" in the last line.

Task: {{ __instruction }}
Text: {{ __response }}"""

RUBRICS = {"backtranslation": (BACKTRANSLATION, (1, 5)), "quality": (QUALITY, (1, 5))}


def rubric_prompt(name: str, instruction: str, response: str) -> str:
    """A preset rubric with the judge's `instruction` and `response` templates put in."""
    text, _ = RUBRICS[name]
    return text.replace("{{ __instruction }}", instruction).replace("{{ __response }}", response)


def criteria_prompt(criteria: dict[int, str], instruction: str | None, response: str, question: str) -> str:
    """A custom rubric: the question, one line per level, the judged text, and the 'Score:' request."""
    levels = "\n".join(f"{level}: {text}" for level, text in sorted(criteria.items()))
    task = f"Task: {instruction}\n" if instruction else ""
    return (f"{question}\n{levels}\nPlease first give a brief reasoning, and then write \"Score: <rating>\" in the "
            f"last line.\n\n{task}Text: {response}")
