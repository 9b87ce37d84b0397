"""The endpoints, one router per concern; ``bookshelf.app.create_app`` includes those of each lesson."""
