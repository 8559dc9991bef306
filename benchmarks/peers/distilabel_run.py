"""distilabel: LoadDataFromDicts >> TextGeneration(OpenAILLM) in a Pipeline, as its docs show."""

import time

from _common import JINJA_PROMPT, parse_args, read_inputs, report


def main() -> None:
    args = parse_args(__doc__)
    from distilabel.models import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    rows = read_inputs(args.inputs)
    # An async LLM sends a whole input batch at once, so input_batch_size is distilabel's concurrency.
    with Pipeline(name="reviews", cache_dir=args.out / "cache") as pipeline:
        load = LoadDataFromDicts(data=rows, batch_size=args.concurrency)
        generate = TextGeneration(
            llm=OpenAILLM(model=args.model, base_url=args.base_url, api_key="sk-bench", max_retries=1,
                          generation_kwargs={"max_new_tokens": args.max_tokens, "temperature": 1.0}),
            template=JINJA_PROMPT, columns=["sentiment", "product"], input_batch_size=args.concurrency,
        )
        load >> generate
    start = time.perf_counter()
    distiset = pipeline.run(use_cache=False)
    seconds = time.perf_counter() - start
    data = distiset["default"]["train"]
    report(sum(1 for text in data["generation"] if text), seconds)


if __name__ == "__main__":
    main()
