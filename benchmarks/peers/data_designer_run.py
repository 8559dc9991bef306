"""NeMo Data Designer: a seed DataFrame and one LLM text column through `DataDesigner.create`."""

import time

from _common import JINJA_PROMPT, parse_args, read_inputs, report


def main() -> None:
    args = parse_args(__doc__)
    import data_designer.config as dd
    import pandas as pd
    from data_designer.config.seed_source_dataframe import DataFrameSeedSource
    from data_designer.interface import DataDesigner

    rows = read_inputs(args.inputs)
    provider = dd.ModelProvider(name="bench", endpoint=args.base_url, provider_type="openai", api_key="sk-bench")
    model = dd.ModelConfig(
        alias="bench", model=args.model, provider="bench",
        inference_parameters=dd.ChatCompletionInferenceParams(
            temperature=1.0, max_tokens=args.max_tokens, max_parallel_requests=args.concurrency),
    )
    builder = dd.DataDesignerConfigBuilder(model_configs=[model])
    builder.with_seed_dataset(DataFrameSeedSource(df=pd.DataFrame(rows)))
    builder.add_column(dd.LLMTextColumnConfig(name="review", prompt=JINJA_PROMPT, model_alias="bench"))
    designer = DataDesigner(artifact_path=args.out, model_providers=[provider])
    # The metrics endpoint would bind a fixed port (9464) that another process may hold.
    designer.set_run_config(dd.RunConfig(otel_metrics_port=None))
    start = time.perf_counter()
    result = designer.create(builder, num_records=len(rows), dataset_name="reviews")
    seconds = time.perf_counter() - start
    frame = result.load_dataset()
    report(int(frame["review"].astype(str).str.len().gt(0).sum()), seconds)


if __name__ == "__main__":
    main()
