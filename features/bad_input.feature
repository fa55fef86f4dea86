@errors
Feature: Bad input gets a clear answer and the connection lives on
  A client with a bug sends something the backend cannot use. The backend says what is wrong,
  quickly, and the connection keeps working. Keepalive and closing work at any time.

  Scenario: A message that is not JSON
    Given I am connected to the chat backend
    When I send a message that is not JSON
    Then the backend answers with a validation error
    And the connection still answers a ping

  Scenario: A question without a prompt
    Given I am connected to the chat backend
    When I send a question without a prompt
    Then the backend answers with a validation error
    And a next question is answered in full

  Scenario: A question with a blank prompt
    Given I am connected to the chat backend
    When I send a question with a blank prompt
    Then the backend answers with a validation error
    And a next question is answered in full

  Scenario Outline: A question whose customer number is <customer> is refused, and the chat carries on
    Given I am connected to the chat backend
    When I send a question whose customer number is <customer>
    Then the backend answers with an error in time
    And a next question is answered in full

    Examples:
      | customer          |
      | a word            |
      | a negative number |

  Scenario Outline: A question whose customer number is <customer> is answered for the signed-in customer
    Given I am connected to the chat backend
    When I send a question whose customer number is <customer>
    Then the answer is complete and not empty

    Examples:
      | customer |
      | zero     |
      | empty    |
      | missing  |

  Scenario: A binary message does not break the connection
    Given I am connected to the chat backend
    When I send a binary message
    Then the connection still works, unless the backend closed it politely

  Scenario: A very large question is answered or refused politely
    Given I am connected to the chat backend
    When I send a question of 2 MB
    Then the backend answers it or refuses it politely
    And the connection still works, unless the backend closed it politely

  Scenario: A ping is answered while an answer streams
    Given I am connected to the chat backend
    And I have asked for a long answer
    When I ping the backend while the answer streams
    Then the pong arrives before the answer is finished

  Scenario: Closing the session
    Given I am connected to the chat backend
    When I ask to close the session
    Then the backend says it is closing
    And the connection closes normally
