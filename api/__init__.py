"""FastAPI: submissions, queries and the pages; thin routes over small service functions."""
