@explore
Feature: Whatever an app sends, the assistant answers it or says what is wrong
  Apps have bugs, and people paste strange things. Whatever a customer's app sends, the assistant
  answers in full, or says in time what is wrong and answers nothing; either way the conversation
  goes on: the assistant never goes quiet, never hangs up, and answers the next question as usual.
  Nobody writes these cases down: the suite invents them. It starts from questions the assistant
  should answer and changes one thing somewhere in each (something of the wrong kind, left out,
  empty, a huge or negative number, unusual characters, something nested very deeply), and it mixes
  in other messages an app may send. Each problem found is reported once, with the smallest
  question that shows it. "In time" means within the error_timeout setting (5 seconds unless changed).

  @explore_requests
  Scenario: Every generated question is answered in full or refused with a reason
    When my app sends many generated questions and messages, each on a connection of its own
    Then each was answered in full, or refused in time with a reason and no answer
    And after each the connection stayed open, responded, and answered a next question in full

  @explore_conversations
  Scenario: Any mix of asking, listening, stopping and reconnecting keeps every promise
    When I hold many generated conversations
    Then every conversation kept every promise, and every stopped answer was left unstored
