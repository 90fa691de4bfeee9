"""The store of responses: what /v1/responses keeps for retrieve, input_items and previous_response_id."""
