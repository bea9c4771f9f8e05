"""Evidence for a label: attribution checked for faithfulness, the voice's measurable cues, the words."""
