"""Commands built on the component: the CLI and what it runs (evaluate, compare,
annotate, visualize, zeroshot, demo data, LLM descriptions). Nothing in the component
or the formats imports from here."""
