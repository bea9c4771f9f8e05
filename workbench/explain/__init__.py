"""Evidence for a label: attribution checked for faithfulness, the voice's measurable cues, counterfactual edits, the words."""
