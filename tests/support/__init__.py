"""Test helpers in one place: scripted model sets, stub classifiers, PDFs, LangSmith and
OpenAI stand-ins, live local servers and the fake OpenAI-compatible upstream."""
