"""Developer tools: static kedro-viz build, headless-browser checks and screenshots."""
